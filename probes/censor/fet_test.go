package censor

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
)

// highEntropy returns n bytes of a fixed pseudo-random stream: what a fully encrypted
// protocol's first packet looks like.
func highEntropy(n int) []byte {
	r := rand.NewChaCha8([32]byte{1})
	b := make([]byte, n)
	r.Read(b)
	return b
}

// nonPrintable4 is n bytes with exactly 4 bits set each and none printable, so that
// only the rule under test can exempt a payload built with it.
func nonPrintable4(n int) []byte {
	return bytes.Repeat([]byte{0x0f}, n)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestFETExemptionsFollowWuEtAl(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		// rule is a word of the exemption expected, "" for a payload that is not exempt.
		rule string
	}{
		{"random bytes are not exempt", highEntropy(1000), ""},
		{"popcount exactly 3.4 per byte", []byte{0x0f, 0xf0, 0x07, 0xe0, 0x0b}, "<= 3.4"},
		{"popcount 3.6 per byte", []byte{0x0f, 0xf0, 0x0f, 0xe0, 0x0b}, ""},
		{"popcount exactly 4.6 per byte", []byte{0x1f, 0xf8, 0x1f, 0xf0, 0x0f}, ">= 4.6"},
		{"popcount 4.4 per byte", []byte{0x1f, 0xf8, 0x0f, 0xf0, 0x0f}, ""},
		{"first 6 bytes printable", cat([]byte("abcdef"), nonPrintable4(20)), "first 6"},
		{"first 5 bytes printable", cat([]byte("abcde"), nonPrintable4(21)), ""},
		{"more than half printable", cat(nonPrintable4(1), []byte("abcde"), nonPrintable4(1), []byte("abcde"), nonPrintable4(1), []byte("abcde")), "printable (> 50%)"},
		{"exactly half printable", cat(nonPrintable4(1), []byte("abcde"), nonPrintable4(5), []byte("abcde"), nonPrintable4(4)), ""},
		{"a run of 21 printable bytes", cat(nonPrintable4(22), bytes.Repeat([]byte("c"), 21)), "run of 21"},
		{"a run of 20 printable bytes", cat(nonPrintable4(22), bytes.Repeat([]byte("c"), 20)), ""},
		{"TLS handshake record", cat([]byte{0x16, 0x03, 0x01}, highEntropy(200)), "TLS"},
		{"TLS application data, version 0x0309", cat([]byte{0x17, 0x03, 0x09}, highEntropy(200)), "TLS"},
		{"TLS-like with version 0x030a", cat([]byte{0x16, 0x03, 0x0a}, highEntropy(200)), ""},
		{"HTTP GET", cat([]byte("GET "), nonPrintable4(2), highEntropy(200)), "HTTP"},
		{"HTTP PUT", cat([]byte("PUT "), nonPrintable4(2), highEntropy(200)), "HTTP"},
		{"HTTP POST", cat([]byte("POST "), nonPrintable4(2), highEntropy(200)), "HTTP"},
		{"HTTP HEAD", cat([]byte("HEAD "), nonPrintable4(2), highEntropy(200)), "HTTP"},
		{"HTTP OPTIONS is not on the list", cat([]byte("OPTI"), nonPrintable4(2), highEntropy(200)), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exempt, why := FETExempt(tt.payload)
			if exempt != (tt.rule != "") || !strings.Contains(why, tt.rule) {
				t.Fatalf("FETExempt = %v %q; want exempt=%v by a rule saying %q", exempt, why, tt.rule != "", tt.rule)
			}
		})
	}
}

// TestFETBlocksAFlowAndItsTriplet sends a fully encrypted first payload through the
// censor: that flow is dropped, the next connection from the same client IP to that
// server is dropped at once, and another client IP still gets through.
func TestFETBlocksAFlowAndItsTriplet(t *testing.T) {
	server := startServer(t, "127.0.0.2", echo)
	c := startCensor(t, []Route{{Name: "gw", Transport: "obfs4", Network: "tcp", Upstream: server}}, &FET{P: 1})
	addr := listenAddr(t, c, "gw")

	exempt := dial(t, addr)
	exempt.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
	if _, err := io.ReadFull(exempt, make([]byte, 18)); err != nil {
		t.Fatalf("an exempt flow was not relayed: %v", err)
	}

	encrypted := dial(t, addr)
	encrypted.Write(highEntropy(600))
	d := waitDecision(t, c, by("fet", Drop))
	if d.Flow.Client.Addr().String() != "127.0.0.1" {
		t.Errorf("decision's client = %v", d.Flow.Client)
	}
	expectSilence(t, encrypted)

	again := dial(t, addr)
	again.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
	waitDecision(t, c, func(d Decision) bool {
		return d.Policy == "fet" && d.Verdict == Drop && strings.Contains(d.Reason, "residual")
	})
	expectSilence(t, again)

	other, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 5)}}).Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	other.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
	if _, err := io.ReadFull(other, make([]byte, 18)); err != nil {
		t.Fatalf("another client IP was blocked too: %v", err)
	}
}

func TestFETSparesWithProbabilityZero(t *testing.T) {
	p := &FET{P: 0}
	v, why := p.judgePayload(nil, Flow{}, &firstPayload{first: highEntropy(100)})
	if v != Pass || !strings.Contains(why, "spared") {
		t.Fatalf("P=0 judged %s %q; want pass, spared", v, why)
	}
}
