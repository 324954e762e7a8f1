package client

import (
	"slices"
	"strings"
	"testing"
)

func TestDefaultRoutesFromProc(t *testing.T) {
	route := `Iface	Destination	Gateway 	Flags	RefCnt	Use	Metric	Mask		MTU	Window	IRTT
eth0	00000000	010200C0	0003	0	0	0	00000000	0	0	0
eth0	000200C0	00000000	0001	0	0	0	00FFFFFF	0	0	0
wlan0	00000000	0101A8C0	0003	0	0	600	00000000	0	0	0
bad	00000000	zz	0003	0	0	0	00000000	0	0	0
short	00000000
`
	if got, want := defaultRoutes4(strings.NewReader(route)),
		[]string{"route4 eth0 192.0.2.1", "route4 wlan0 192.168.1.1"}; !slices.Equal(got, want) {
		t.Errorf("IPv4 default routes %q, want %q", got, want)
	}
	route6 := `fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000003 00000000 00000003     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo
`
	if got, want := defaultRoutes6(strings.NewReader(route6)), []string{"route6 eth0 fd00::1"}; !slices.Equal(got, want) {
		t.Errorf("IPv6 default routes %q, want %q", got, want)
	}
}

func TestDefaultNetworkIsStableAndNamesTheRoute(t *testing.T) {
	id := defaultNetwork("127.0.0.1:443")
	a, b := id(), id()
	if a != b {
		t.Errorf("two calls on one network differ: %q, %q", a, b)
	}
	if !strings.Contains(a, "local 127.0.0.1") {
		t.Errorf("identity %q lacks the local address used to reach the bridge", a)
	}
	if byName := defaultNetwork("bridge.example.org:443")(); strings.Contains(byName, "local") {
		t.Errorf("a bridge named by DNS gave a local address (%q): that needs a query", byName)
	}
}
