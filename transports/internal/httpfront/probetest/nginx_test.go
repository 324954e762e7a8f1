package probetest

import (
	"testing"
)

// TestNginxReactions pins what the gateway's TLS fronts copy: how Debian's nginx
// (1.22 with OpenSSL 3.0) meets each kind of probe. If a distribution update changes
// these, the fronts must follow; run with -v to see the reaction to every probe.
func TestNginxReactions(t *testing.T) {
	addr := Nginx(t, "www.example.com")
	probes := Probes()
	rs := ReactAll(t.Context(), []string{addr}, probes, Wait)
	got := map[string]Reaction{}
	for i, p := range probes {
		got[p.Name] = rs[0][i]
		t.Logf("%-62s %v", p.Name, rs[0][i])
	}
	for _, tt := range []struct {
		probe string
		want  string
	}{
		{"empty", "timeout"},
		{"random 1 bytes, first high bit", "timeout"},
		{"random 6 bytes, first high bit", "FIN"},
		{"random 2000 bytes, first 0x16", "FIN"},
		{"random 20000 bytes, first 0x16", "RST"},
		{"random 100 bytes, first text", `data (295 bytes: "HTTP/1.1 400 Bad Request"), then FIN`},
		{"random 1 bytes, first method letter", "timeout"},
		{"handshake record version 0303, 64 random bytes", "data (7 bytes: TLS alert 2/10 (record version 3.3)), then FIN"},
		{"handshake record header of 16704 bytes alone", "timeout"},
		{"handshake record header of 16705 bytes alone", "data (7 bytes: TLS alert 2/22 (record version 3.3)), then FIN"},
		{"handshake record of 16705 random bytes", "data (7 bytes: TLS alert 2/22 (record version 3.3)), then RST"},
		{"ClientHello cut after 100 bytes", "timeout"},
		{"ClientHello, TLS 1.1 at most", "data (7 bytes: TLS alert 2/70 (record version 3.2)), then FIN"},
		{"HTTP GET", `data (393 bytes: "HTTP/1.1 400 Bad Request"), then FIN`},
		{"HTTP POST without its body", `data (393 bytes: "HTTP/1.1 400 Bad Request"), then timeout`},
	} {
		if r, ok := got[tt.probe]; !ok || r.String() != tt.want {
			t.Errorf("%s: nginx reacted with %v, want %s", tt.probe, r, tt.want)
		}
	}
	if r := got["ClientHello, TLS 1.3"]; r.First != Data || Describe(r.Head) != "TLS handshake (record version 3.3)" || r.End != Timeout {
		t.Errorf("a ClientHello: nginx reacted with %v, want its handshake, then a wait", r)
	}
}
