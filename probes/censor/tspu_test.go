package censor

import (
	"bytes"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestParseTSPUQUIC(t *testing.T) {
	tests := []struct {
		spec string
		want *TSPUQUIC
	}{
		{"tspu-quic", &TSPUQUIC{Port: 443}},
		{"tspu-quic:port=8443", &TSPUQUIC{Port: 8443}},
		{"tspu-quic:port=any:transport=quic", &TSPUQUIC{Scope: Scope{Transports: []string{"quic"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			p, err := ParsePolicy(tt.spec)
			if err != nil {
				t.Fatalf("ParsePolicy: %v", err)
			}
			if !reflect.DeepEqual(p, tt.want) {
				t.Fatalf("ParsePolicy = %#v; want %#v", p, tt.want)
			}
			again, err := ParsePolicy(p.String())
			if err != nil || !reflect.DeepEqual(again, p) {
				t.Fatalf("ParsePolicy(%q) = %#v, %v; want the same policy back", p.String(), again, err)
			}
		})
	}
	for _, bad := range []string{"tspu-quic:port=0", "tspu-quic:port=70000", "tspu-quic:port=https", "tspu-quic:len=1"} {
		if _, err := ParsePolicy(bad); err == nil || !strings.Contains(err.Error(), "argument") {
			t.Errorf("ParsePolicy(%q) = %v; want an error naming the argument", bad, err)
		}
	}
}

// withVersion returns a copy of a long-header datagram with its version field set.
func withVersion(d []byte, v uint32) []byte {
	c := bytes.Clone(d)
	c[1], c[2], c[3], c[4] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
	return c
}

func TestTSPUQUICDropsLargeQUICv1DatagramsToItsPort(t *testing.T) {
	initial := rfc9001ClientInitial(t) // 1200 bytes, QUIC v1
	to := func(port uint16) Flow {
		return Flow{Network: "udp", Upstream: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), port)}
	}
	short := bytes.Clone(initial[:1000])
	exactly := bytes.Clone(initial[:tspuMinLength])
	tests := []struct {
		name   string
		policy TSPUQUIC
		flow   Flow
		d      []byte
		want   Verdict
	}{
		{"QUIC v1 Initial to 443", TSPUQUIC{Port: 443}, to(443), initial, Drop},
		{"1001 bytes is enough", TSPUQUIC{Port: 443}, to(443), exactly, Drop},
		{"1000 bytes pass", TSPUQUIC{Port: 443}, to(443), short, Pass},
		{"another port passes", TSPUQUIC{Port: 443}, to(8443), initial, Pass},
		{"any port", TSPUQUIC{}, to(8443), initial, Drop},
		{"QUIC v2 passes", TSPUQUIC{Port: 443}, to(443), withVersion(initial, 0x6b3343cf), Pass},
		{"short header passes", TSPUQUIC{Port: 443}, to(443), append([]byte{0x40}, initial[1:]...), Pass},
		{"random bytes pass", TSPUQUIC{Port: 443}, to(443), bytes.Repeat([]byte{0x5a}, 1300), Pass},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, why := tt.policy.judgeDatagram(nil, tt.flow, tt.d)
			if got != tt.want {
				t.Fatalf("judgeDatagram(%d bytes) = %s (%s); want %s", len(tt.d), got, why, tt.want)
			}
		})
	}
}

// TestTSPUQUICDropsTheFlowInTheRelay sends a QUIC v1 Initial and a datagram of the
// same size without the version field through the censor to a UDP echo: only the
// second comes back.
func TestTSPUQUICDropsTheFlowInTheRelay(t *testing.T) {
	up, _ := startUDPEcho(t, "127.0.0.2")
	c := startCensor(t, []Route{{Name: "h3", Transport: "quic", Network: "udp", Upstream: up}}, &TSPUQUIC{})
	addr := listenAddr(t, c, "h3")

	masked := withVersion(rfc9001ClientInitial(t), 0x1a2b3c4d)
	if got, err := udpExchange(t, addr, masked); err != nil || !bytes.Equal(got, masked) {
		t.Fatalf("a datagram without the QUIC v1 version field: echo of %d bytes, %v; want it back", len(got), err)
	}
	waitDecision(t, c, by("tspu-quic", Pass))

	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write(rfc9001ClientInitial(t))
	waitDecision(t, c, by("tspu-quic", Drop))
	// The flow is dropped, not only its first datagram: a small one after it stays
	// unanswered too.
	conn.Write([]byte("small"))
	expectSilence(t, conn)
}

// FuzzTSPUMatch checks that the rule reads any datagram without panicking and drops
// exactly the large ones that show QUIC v1 in a long header.
func FuzzTSPUMatch(f *testing.F) {
	f.Add(rfc9001ClientInitial(f))
	f.Add([]byte{0xc0, 0, 0, 0, 1})
	f.Add(bytes.Repeat([]byte{0xc0, 0, 0, 0, 1}, 201))
	f.Fuzz(func(t *testing.T, d []byte) {
		want := len(d) >= tspuMinLength && d[0]&0x80 != 0 && bytes.Equal(d[1:5], []byte{0, 0, 0, 1})
		if got := tspuMatch(d) == nil; got != want {
			t.Fatalf("tspuMatch(%d bytes starting %x) drops = %v; want %v", len(d), d[:min(len(d), 5)], got, want)
		}
	})
}
