package unboundtest

import (
	"testing"
	"time"

	dnsmsg "github.com/miekg/dns"
)

// TestOnlyStubZonesAreResolved: a name outside the stub zones is refused at once, so
// unbound never asks the Internet's root servers.
func TestOnlyStubZonesAreResolved(t *testing.T) {
	addrs, err := FreeAddrs("127.0.0.1", "both")
	if err != nil {
		t.Fatal(err)
	}
	u := Start(t, Config{Listen: addrs[0], Stubs: map[string]string{"t.example.org": "127.0.0.1:9"}})
	q := new(dnsmsg.Msg)
	q.SetQuestion("www.example.com.", dnsmsg.TypeA)
	c := &dnsmsg.Client{Net: "udp", Timeout: 10 * time.Second}
	resp, _, err := c.Exchange(q, u.Config.Listen)
	if err != nil {
		t.Fatalf("query: %v", err)
	}
	if resp.Rcode != dnsmsg.RcodeRefused {
		t.Fatalf("www.example.com: %s, want REFUSED", dnsmsg.RcodeToString[resp.Rcode])
	}
}

func TestDoTAndDoHNeedACertificate(t *testing.T) {
	if _, err := render(t.TempDir(), Config{Listen: "127.0.0.1:53", TLS: "127.0.0.1:853"}); err == nil {
		t.Fatal("a config with DoT and no certificate rendered")
	}
}
