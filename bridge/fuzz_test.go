package bridge

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"utls 203.0.113.5:443 " + sessionArgs + " fp=chrome servername=www.example.com",
		"Bridge tcp [2001:db8::1]:443 " + sessionArgs,
		"obfs4 192.0.2.1:80 " + sessionArgs + " cert=ab=cd iat-mode=0 x=",
		"tcp 1.2.3.4 " + sessionArgs,
		"tcp [fe80::1%eth0]:1 " + sessionArgs,
		"tcp 1.2.3.4:1 key=" + keyB64 + " secret=" + secretB64 + "=",
		"utls 1.2.3.4:443 " + sessionArgs + " next-key=" + nextB64,
		"utls 1.2.3.4:443 " + sessionArgs + " next-key=" + keyB64,
		"utls 1.2.3.4:443 next-key=" + nextB64 + " " + sessionArgs + " next-key=",
		"tcp 1.2.3.4:1 key=" + keyB64 + " secret=" + EncodeKey(make([]byte, 32)),
		"Bridge", "", "a b c=d",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, line string) {
		b, err := Parse(line)
		if err != nil {
			var be *Error
			if !errors.As(err, &be) {
				t.Fatalf("error %q is not a *Error", err)
			}
			return
		}
		printed := b.String()
		again, err := Parse(printed)
		if err != nil {
			t.Fatalf("String() = %q does not parse: %v", printed, err)
		}
		if !reflect.DeepEqual(again, b) {
			t.Fatalf("round trip through %q changed\n%#v\nto\n%#v", printed, b, again)
		}
		if again.String() != printed {
			t.Fatalf("String is not stable: %q then %q", printed, again.String())
		}
		if b.NextKey != nil && (b.NextKey.Equal(b.Key) || b.Args[argNextKey] != "") {
			t.Fatalf("next-key= parsed as %x beside key= %x, args %v", b.NextKey, b.Key, b.Args)
		}
		if red := b.Redacted(); strings.Contains(red, EncodeKey(b.Secret[:])) {
			t.Fatalf("Redacted() = %q shows the secret", red)
		}
	})
}

func FuzzParseShare(f *testing.F) {
	for _, lines := range [][]string{
		{"utls 203.0.113.5:443 " + sessionArgs + " fp=chrome servername=www.example.com"},
		{"tcp 192.0.2.1:8443 " + sessionArgs, "obfs4 192.0.2.1:80 " + sessionArgs + " cert=ab=cd iat-mode=0"},
	} {
		var parsed []Line
		for _, s := range lines {
			l, err := Parse(s)
			if err != nil {
				f.Fatal(err)
			}
			parsed = append(parsed, l)
		}
		code, err := EncodeShare(parsed)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(code)
		f.Add(strings.ToLower(code))
		f.Add(code[:len(code)-3])
	}
	f.Add("UMBRELLA:1:")
	f.Add("UMBRELLA:99:AAAA")
	f.Add("umbrella:1:AAAAAAAA")
	f.Fuzz(func(t *testing.T, code string) {
		lines, err := ParseShare(code)
		if err != nil {
			return
		}
		again, err := EncodeShare(lines)
		if err != nil {
			t.Fatalf("lines of a parsed code do not encode: %v", err)
		}
		back, err := ParseShare(again)
		if err != nil {
			t.Fatalf("re-encoded code does not parse: %v", err)
		}
		if !reflect.DeepEqual(back, lines) {
			t.Fatalf("round trip changed the lines:\n%v\n%v", lines, back)
		}
	})
}
