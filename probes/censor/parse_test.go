package censor

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/transports"
)

func TestParsePolicyReadsEveryPolicy(t *testing.T) {
	tests := []struct {
		spec string
		want Policy
	}{
		{"fet", &FET{P: 1, Residual: 180 * time.Second}},
		{"fet:p=0.263:residual=3m", &FET{P: 0.263, Residual: 3 * time.Minute}},
		{"ip-block:addr=127.0.0.2,127.0.0.3:443", &IPBlock{IPs: []netip.Addr{netip.MustParseAddr("127.0.0.2")}, Endpoints: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.3:443")}}},
		{"ip-block:transport=obfs4,meek", &IPBlock{Scope: Scope{Transports: []string{"obfs4", "meek"}}}},
		{"sni:block=a.com,b.com:action=drop", &SNI{Block: []string{"a.com", "b.com"}, Action: Drop}},
		{"sni:allow=cdn.example:quic=false:route=front", &SNI{Scope: Scope{Routes: []string{"front"}}, Allow: []string{"cdn.example"}, Action: Reset, SkipQUIC: true}},
		{"sni:block=a.com:quic-reassemble=true", &SNI{Block: []string{"a.com"}, Action: Reset, ReassembleQUIC: true}},
		{"tls-fingerprint", &TLSFingerprint{Action: Drop}},
		{"tls-fingerprint:allow=t13d1517h2_8daaf6152771_cb7bf5808d99:action=reset", &TLSFingerprint{Allow: []string{"t13d1517h2_8daaf6152771_cb7bf5808d99"}, Action: Reset}},
		{"udp-block", &UDPBlock{}},
		{"quic-block", &QUICBlock{}},
		{"whitelist:dns=127.0.0.53:53:allow=cdn.example", &Whitelist{DNS: netip.MustParseAddrPort("127.0.0.53:53"), Allow: []string{"cdn.example"}}},
		{"freeze", &Freeze{Min: 14 << 10, Max: 20 << 10}},
		{"freeze:bytes=16K", &Freeze{Min: 16 << 10, Max: 16 << 10}},
		{"throttle:rate=2M:burst=3000", &Throttle{Rate: 2_000_000, Burst: 3000}},
		{"throttle", &Throttle{Rate: 140_000}},
		{"delay:time=50ms:jitter=25ms", &Delay{Up: 50 * time.Millisecond, Down: 50 * time.Millisecond, Jitter: 25 * time.Millisecond}},
		{"delay:up=80ms:down=20ms:route=gw", &Delay{Scope: Scope{Routes: []string{"gw"}}, Up: 80 * time.Millisecond, Down: 20 * time.Millisecond}},
		{"active-probe:ref=127.0.0.9:80:wait=2s:random=1", &ActiveProbe{Reference: netip.MustParseAddrPort("127.0.0.9:80"), Wait: 2 * time.Second, Random: 1}},
		{"active-probe:random=0", &ActiveProbe{Wait: 5 * time.Second, Random: -1}},
		{"mitm:names=*", &MITM{Names: []string{"*"}}},
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
			// String gives the policy back in the syntax it came in.
			again, err := ParsePolicy(p.String())
			if err != nil || again.String() != p.String() {
				t.Fatalf("ParsePolicy(%q) = %v, %v; want the same policy", p.String(), again, err)
			}
		})
	}
}

func TestParsePolicyNamesTheBadField(t *testing.T) {
	tests := []struct {
		spec string
		want string // in the error
	}{
		{"fett", `unknown policy "fett"`},
		{"fet:p=2", "argument p=: want a probability"},
		{"fet:q=1", "argument q=: unknown argument"},
		{"fet:residual=-1s", "argument residual="},
		{"fet:p=1:p=0", "argument p=: given twice"},
		{"sni", "argument block=: give block=NAMES or allow=NAMES"},
		{"sni:block=a.com:allow=b.com", "one of them"},
		{"sni:block=a.com:action=smile", "argument action=: want reset or drop"},
		{"sni:block=a.com:quic=maybe", "argument quic="},
		{"sni:block=a.com:quic=false:quic-reassemble=true", "argument quic-reassemble=: reassembles QUIC flows that quic=false leaves alone"},
		{"ip-block:addr=gateway", "argument addr=: want IP or IP:PORT"},
		{"whitelist:dns=resolver", "argument dns="},
		{"freeze:bytes=20-10", "argument bytes="},
		{"throttle:rate=fast", "argument rate="},
		{"delay:time=-5ms", "argument time="},
		{"delay:jitter=lots", "argument jitter="},
		{"active-probe:ref=nowhere", "argument ref="},
		{"active-probe:random=1000", "argument random="},
		{"mitm", "argument names=: missing"},
		{"udp-block:x=1", "argument x="},
		{":p=1", "no policy name"},
		{"fet:=1", "has no key"},
		{"fet:p", `"p" is not KEY=VALUE`},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			_, err := ParsePolicy(tt.spec)
			var pe *PolicyError
			if !errors.As(err, &pe) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.spec) {
				t.Fatalf("ParsePolicy(%q) = %v; want a PolicyError naming the spec and saying %q", tt.spec, err, tt.want)
			}
		})
	}
}

func TestParsePolicyKeepsArgErrors(t *testing.T) {
	_, err := ParsePolicy("fet:p=x")
	var ae *transports.ArgError
	if !errors.As(err, &ae) || ae.Key != "p" {
		t.Fatalf("error %v; want a transports.ArgError for p", err)
	}
}

func TestParseRoute(t *testing.T) {
	r, err := ParseRoute("gw,obfs4,tcp,127.0.0.1:9001,127.0.0.2:443")
	want := Route{Name: "gw", Transport: "obfs4", Network: "tcp", Listen: "127.0.0.1:9001", Upstream: "127.0.0.2:443"}
	if err != nil || r != want {
		t.Fatalf("ParseRoute = %+v, %v; want %+v", r, err, want)
	}
	bad := []struct{ s, want string }{
		{"gw,obfs4,tcp,127.0.0.1:9001", "5 fields"},
		{",obfs4,tcp,127.0.0.1:9001,127.0.0.2:443", "name: empty"},
		{"gw,,tcp,127.0.0.1:9001,127.0.0.2:443", "transport: empty"},
		{"gw,obfs4,sctp,127.0.0.1:9001,127.0.0.2:443", `network: want tcp or udp, got "sctp"`},
		{"gw,obfs4,tcp,9001,127.0.0.2:443", "listen:"},
		{"gw,obfs4,tcp,127.0.0.1:9001,gateway:443", "upstream: want IP:PORT"},
		{"gw,obfs4,tcp,127.0.0.1:9001,127.0.0.2:0", "upstream: port 0"},
	}
	for _, tt := range bad {
		if _, err := ParseRoute(tt.s); !errors.Is(err, ErrBadRoute) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseRoute(%q) = %v; want ErrBadRoute saying %q", tt.s, err, tt.want)
		}
	}
}

func FuzzParsePolicy(f *testing.F) {
	for _, s := range []string{
		"fet:p=0.263", "sni:block=a.com,b.com:action=reset", "ip-block:addr=[::1]:443",
		"whitelist:dns=127.0.0.1:53:allow=x", "freeze:bytes=1K-2K", "throttle:rate=140k",
		"active-probe:ref=127.0.0.1:1:wait=1s", "mitm:names=*:transport=utls", "udp-block:route=a,b",
		"delay:time=50ms:jitter=25ms", "delay:up=0s:down=1h",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		p, err := ParsePolicy(spec)
		if err != nil {
			return
		}
		again, err := ParsePolicy(p.String())
		if err != nil || again.String() != p.String() {
			t.Fatalf("%q parsed to %q, which parses to %v, %v", spec, p.String(), again, err)
		}
	})
}
