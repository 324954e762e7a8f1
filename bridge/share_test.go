package bridge

import (
	"crypto/rand"
	"errors"
	"reflect"
	"strings"
	"testing"

	"rsc.io/qr"
)

// gatewayLines are the lines of a gateway with one listener of every transport, with
// random keys as a real one has (random bytes do not compress).
func gatewayLines(t testing.TB) []Line {
	t.Helper()
	random := func(n int) string {
		b := make([]byte, n)
		rand.Read(b)
		return EncodeKey(b)
	}
	session := "key=" + random(32) + " secret=" + random(32)
	var lines []Line
	for _, s := range []string{
		"tcp 203.0.113.5:8443 " + session,
		"obfs4 203.0.113.5:9443 " + session + " cert=" + random(52) + " iat-mode=0",
		"utls 203.0.113.5:443 " + session + " fp=chrome pin=" + random(32) + " servername=www.example.com",
		"quic 203.0.113.5:443 " + session + " pin=" + random(32) + " servername=www.example.com",
		"quicobfs 203.0.113.5:8444 " + session + " cert=" + random(32),
		"webtunnel www.example.com:443 " + session + " url=https://www.example.com/" + random(12),
		"websocket cdn.example.net:443 " + session + " front=cdn.example.net host=www.example.com path=/" + random(12),
		"meek cdn.example.net:443 " + session + " front=cdn.example.net url=https://www.example.com/" + random(12),
		"pt 203.0.113.5:9444 " + session + " method=obfs4 cert=" + random(52) + " iat-mode=0",
	} {
		l, err := Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, l)
	}
	return lines
}

func TestShareCodeRoundTrips(t *testing.T) {
	lines := gatewayLines(t)
	for _, n := range []int{1, 2, len(lines)} {
		code, err := EncodeShare(lines[:n])
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(code, "UMBRELLA:1:") {
			t.Errorf("code %.20s… does not begin with UMBRELLA:1:", code)
		}
		got, err := ParseShare(code)
		if err != nil {
			t.Fatalf("%d lines: %v", n, err)
		}
		if !reflect.DeepEqual(got, lines[:n]) {
			t.Errorf("%d lines came back as\n%v\nwant\n%v", n, got, lines[:n])
		}
	}
}

func TestShareCodeSurvivesWhatMessengersDoToIt(t *testing.T) {
	lines := gatewayLines(t)[:3]
	code, err := EncodeShare(lines)
	if err != nil {
		t.Fatal(err)
	}
	wrapped := code[:30] + "\n" + code[30:60] + " " + code[60:]
	for name, s := range map[string]string{
		"lower case":    strings.ToLower(code),
		"wrapped":       wrapped,
		"padded":        "  " + code + "\n",
		"mixed case":    "Umbrella:" + code[len(ShareScheme):],
		"as ParseLines": code,
	} {
		got, err := ParseLines(s)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !reflect.DeepEqual(got, lines) {
			t.Errorf("%s: lines changed", name)
		}
	}
}

// Every change of one character is caught: a CRC-32 detects every burst of up to 32
// bits, and a base32 character is 5. (A change in the last character's unused bits
// leaves the lines as they were, and is accepted.)
func TestShareCodeTypoIsCaught(t *testing.T) {
	lines := gatewayLines(t)[:2]
	code, err := EncodeShare(lines)
	if err != nil {
		t.Fatal(err)
	}
	prefix := len("UMBRELLA:1:")
	for i := prefix; i < len(code); i++ {
		for _, c := range []byte{'A', 'Q', '7'} {
			if code[i] == c {
				continue
			}
			typo := code[:i] + string(c) + code[i+1:]
			got, err := ParseShare(typo)
			if err == nil && !reflect.DeepEqual(got, lines) {
				t.Fatalf("a typo at %d gave other lines without an error", i)
			}
			if err != nil && !errors.Is(err, ErrShareChecksum) {
				t.Fatalf("typo at %d: error %v, want ErrShareChecksum", i, err)
			}
		}
	}
	for _, cut := range []int{1, 5, len(code) / 2} {
		if _, err := ParseShare(code[:len(code)-cut]); !errors.Is(err, ErrShareChecksum) {
			t.Errorf("cut by %d characters: error %v, want ErrShareChecksum", cut, err)
		}
	}
}

func TestShareCodeErrors(t *testing.T) {
	code, err := EncodeShare(gatewayLines(t)[:1])
	if err != nil {
		t.Fatal(err)
	}
	payload := code[len("UMBRELLA:1:"):]
	tests := []struct {
		name, code string
		want       error
		wantText   string
	}{
		{"newer version", "UMBRELLA:2:" + payload, ErrShareVersion, ""},
		{"version not a number", "UMBRELLA:x:" + payload, nil, "the version is not a number"},
		{"leading zero", "UMBRELLA:01:" + payload, nil, "the version is not a number"},
		{"no version", "UMBRELLA:" + payload, nil, "no version"},
		{"other scheme", "https://example.org/", nil, "want one beginning with UMBRELLA:"},
		{"not base32", "UMBRELLA:1:" + payload[:10] + "!" + payload[11:], ErrShareChecksum, ""},
		{"too long", "UMBRELLA:1:" + strings.Repeat("A", maxShareURI), nil, "more than a QR code holds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseShare(tt.code)
			switch {
			case err == nil:
				t.Fatal("parsed")
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Fatalf("error %v, want %v", err, tt.want)
			case !strings.Contains(err.Error(), tt.wantText):
				t.Fatalf("error %q lacks %q", err, tt.wantText)
			}
			if strings.Contains(err.Error(), payload[:20]) {
				t.Fatalf("error %q repeats the code", err)
			}
		})
	}
}

// A gateway with one listener of every transport fits a QR code that a phone reads
// off a terminal: version 25 (117 modules a side) at level M is about as dense as a
// phone camera reads from a screen at arm's length.
func TestShareCodeOfAWholeGatewayFitsAReadableQRCode(t *testing.T) {
	lines := gatewayLines(t)
	code, err := EncodeShare(lines)
	if err != nil {
		t.Fatal(err)
	}
	var text int
	for _, l := range lines {
		text += len(l.String()) + 1
	}
	c, err := qr.Encode(code, qr.M)
	if err != nil {
		t.Fatal(err)
	}
	version := (c.Size - 17) / 4
	t.Logf("%d lines, %d bytes of text: share code of %d characters, QR version %d (%d modules)", len(lines), text, len(code), version, c.Size)
	if version > 25 {
		t.Errorf("QR version %d for %d lines, want at most 25", version, len(lines))
	}
}
