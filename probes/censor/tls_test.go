package censor

import (
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/transports/tlskit"
)

// judgeHello runs a policy's payload judgement on a hello as it came over TCP.
func judgeHello(t *testing.T, p payloadJudge, hello []byte) (Verdict, string) {
	t.Helper()
	h, err := tlskit.ParseClientHello(hello)
	if err != nil {
		t.Fatalf("parse the test's hello: %v", err)
	}
	return p.judgePayload(nil, Flow{Network: "tcp"}, &firstPayload{first: hello, data: hello, hello: h})
}

func TestSNIJudgesTheServerName(t *testing.T) {
	block := &SNI{Block: []string{"blocked.example"}}
	allow := &SNI{Allow: []string{"cdn.example"}, Action: Drop}
	tests := []struct {
		name   string
		policy *SNI
		sni    string
		want   Verdict
	}{
		{"a blocked name is reset", block, "blocked.example", Reset},
		{"its subdomain too", block, "www.blocked.example", Reset},
		{"a name that only ends alike passes", block, "notblocked.example", Pass},
		{"another name passes", block, "ok.example", Pass},
		{"an allowed name passes", allow, "cdn.example", Pass},
		{"a name off the allow list is dropped", allow, "gateway.example", Drop},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if v, why := judgeHello(t, tt.policy, goHello(t, tt.sni)); v != tt.want {
				t.Fatalf("verdict %s (%s); want %s", v, why, tt.want)
			}
		})
	}
	if v, _ := block.judgePayload(nil, Flow{}, &firstPayload{first: []byte("GET /")}); v != "" {
		t.Fatalf("SNI judged a flow that is not TLS: %s", v)
	}
}

// TestSNIResetsOverTheRelay sends hellos through the censor, one of them cut over two
// segments, as utls's frag= does against censors that do not reassemble.
func TestSNIResetsOverTheRelay(t *testing.T) {
	rec, addr := startRecorder(t, "127.0.0.2")
	c := startCensor(t, []Route{tcpRoute("gw", "utls", addr)}, &SNI{Block: []string{"blocked.example"}})
	tests := []struct {
		name    string
		sni     string
		split   bool
		blocked bool
	}{
		{"allowed", "ok.example", false, false},
		{"blocked", "blocked.example", false, true},
		{"blocked across segments", "blocked.example", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hello := goHello(t, tt.sni)
			conn := dial(t, listenAddr(t, c, "gw"))
			if tt.split {
				conn.Write(hello[:40])
				time.Sleep(50 * time.Millisecond) // a second segment, most likely; the test holds either way
				conn.Write(hello[40:])
			} else {
				conn.Write(hello)
			}
			if tt.blocked {
				if _, err := conn.Read(make([]byte, 1)); !isReset(err) {
					t.Fatalf("read after a blocked hello: %v; want connection reset", err)
				}
				if got := <-rec.seen; len(got) != 0 {
					t.Fatalf("the server got %d bytes of a blocked flow", len(got))
				}
				return
			}
			conn.CloseWrite()
			if got := <-rec.seen; string(got) != string(hello) {
				t.Fatalf("the server got %d bytes; want the %d-byte hello", len(got), len(hello))
			}
		})
	}
}

func TestTLSFingerprintAllowsBrowsersAndCatchesGo(t *testing.T) {
	p := &TLSFingerprint{}
	goDefault := goHello(t, "go.example")
	tests := []struct {
		name  string
		hello []byte
		want  Verdict
	}{
		{"captured Chromium 156", capturedHello(t, "chromium-156.hello"), Pass},
		{"captured Firefox 153", capturedHello(t, "firefox-153.hello"), Pass},
		{"our utls client as Chrome", utlsHello(t, "chrome", "a.example"), Pass},
		{"our utls client as Firefox", utlsHello(t, "firefox", "a.example"), Pass},
		{"Go's crypto/tls default", goDefault, Drop},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if v, why := judgeHello(t, p, tt.hello); v != tt.want {
				t.Fatalf("verdict %s (%s); want %s", v, why, tt.want)
			}
		})
	}
	h, _ := tlskit.ParseClientHello(goDefault)
	byJA3 := &TLSFingerprint{Allow: []string{h.JA3Hash()}, Action: Reset}
	if v, why := judgeHello(t, byJA3, goDefault); v != Pass {
		t.Fatalf("a JA3 allow list with Go's hash: %s (%s); want pass", v, why)
	}
	cut := goDefault[:len(goDefault)-10]
	hc, _ := tlskit.ParseClientHello(cut)
	if v, _ := p.judgePayload(nil, Flow{}, &firstPayload{first: cut, data: cut, hello: hc}); v != Drop {
		t.Fatalf("an incomplete hello: %s; want drop", v)
	}
}

func TestWhitelistLetsOnlyDNSAndAllowedHTTPSThrough(t *testing.T) {
	resolver := netip.MustParseAddrPort("127.0.0.53:53")
	w := &Whitelist{DNS: resolver, Allow: []string{"cdn.example"}}
	other := netip.MustParseAddrPort("127.0.0.2:443")
	connect := []struct {
		name string
		f    Flow
		want Verdict
	}{
		{"DNS to the resolver", Flow{Network: "udp", Upstream: resolver}, Pass},
		{"DNS over TCP to the resolver", Flow{Network: "tcp", Upstream: resolver}, Pass},
		{"other UDP", Flow{Network: "udp", Upstream: other}, Drop},
		{"TCP waits for its payload", Flow{Network: "tcp", Upstream: other}, ""},
	}
	for _, tt := range connect {
		if v, why := w.judgeConnect(nil, tt.f); v != tt.want {
			t.Errorf("%s: %q (%s); want %q", tt.name, v, why, tt.want)
		}
	}
	if v, why := judgeHello(t, w, goHello(t, "www.cdn.example")); v != Pass {
		t.Errorf("HTTPS to an allowed name: %s (%s)", v, why)
	}
	if v, why := judgeHello(t, w, goHello(t, "gateway.example")); v != Drop || !strings.Contains(why, "gateway.example") {
		t.Errorf("HTTPS to another name: %s (%s)", v, why)
	}
	if v, _ := w.judgePayload(nil, Flow{Network: "tcp", Upstream: other}, &firstPayload{first: []byte("GET / HTTP/1.1")}); v != Drop {
		t.Errorf("plain HTTP: %s; want drop", v)
	}
}

func TestMatchName(t *testing.T) {
	tests := []struct {
		name  string
		names []string
		want  bool
	}{
		{"a.com", []string{"a.com"}, true},
		{"x.A.com.", []string{"a.com"}, true},
		{"ba.com", []string{"a.com"}, false},
		{"", []string{"a.com"}, false},
		{"", []string{"*"}, true},
		{"a.com", nil, false},
	}
	for _, tt := range tests {
		if got := matchName(tt.name, tt.names); got != tt.want {
			t.Errorf("matchName(%q, %v) = %v", tt.name, tt.names, got)
		}
	}
}

// TestUDPPolicies sends a QUIC Initial (RFC 9001 A.2, SNI example.com) and a DNS-like
// datagram through UDP routes under each UDP policy.
func TestUDPPolicies(t *testing.T) {
	initial := rfc9001ClientInitial(t)
	dnsQuery := []byte{0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0}
	tests := []struct {
		policy    string
		datagram  []byte
		passes    bool
		decidedBy string
	}{
		{"quic-block", initial, false, "quic-block"},
		{"quic-block", dnsQuery, true, "quic-block"},
		{"sni:block=example.com", initial, false, "sni"},
		{"sni:block=other.example", initial, true, "sni"},
		{"sni:block=example.com:quic=false", initial, true, ""},
		{"udp-block", dnsQuery, false, "udp-block"},
	}
	for _, tt := range tests {
		t.Run(tt.policy+"/"+map[bool]string{true: "passes", false: "dropped"}[tt.passes], func(t *testing.T) {
			up, count := startUDPEcho(t, "127.0.0.2")
			p, err := ParsePolicy(tt.policy)
			if err != nil {
				t.Fatal(err)
			}
			c := startCensor(t, []Route{{Name: "q", Transport: "quic", Network: "udp", Upstream: up}}, p)
			addr := listenAddr(t, c, "q")
			if tt.passes {
				got, err := udpExchange(t, addr, tt.datagram)
				if err != nil || string(got) != string(tt.datagram) {
					t.Fatalf("datagram not relayed: %d bytes, %v", len(got), err)
				}
				return
			}
			conn, err := net.Dial("udp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.Write(tt.datagram)
			waitDecision(t, c, by(tt.decidedBy, Drop))
			later := []byte("a later datagram of the flow")
			conn.Write(later)
			st := waitFlow(t, c, func(st FlowStatus) bool { return st.Dropped == int64(len(tt.datagram)+len(later)) })
			if n := count.Load(); n != 0 || st.ClientToServer != 0 || !st.Stopped {
				t.Fatalf("the server got %d datagrams of a dropped flow; status %+v", n, st)
			}
		})
	}
}

func waitFlow(t *testing.T, c *Censor, match func(FlowStatus) bool) FlowStatus {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for time.Now().Before(deadline) {
		for _, st := range c.Flows() {
			if match(st) {
				return st
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no matching flow in %+v", c.Flows())
	return FlowStatus{}
}

func TestUDPBlockLeavesTCPAlone(t *testing.T) {
	c := startCensor(t, []Route{tcpRoute("gw", "obfs4", startServer(t, "127.0.0.2", echo))}, &UDPBlock{})
	conn := dial(t, listenAddr(t, c, "gw"))
	conn.Write([]byte("ping"))
	if _, err := io.ReadFull(conn, make([]byte, 4)); err != nil {
		t.Fatalf("TCP under udp-block: %v", err)
	}
}
