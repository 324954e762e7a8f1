package freeport

import (
	"net"
	"strconv"
	"testing"
)

func TestPortsAreFreeAndBelowTheEphemeralRange(t *testing.T) {
	for _, network := range []string{"tcp", "udp"} {
		t.Run(network, func(t *testing.T) {
			addr, err := For(network, "127.0.0.2")
			if err != nil {
				t.Fatal(err)
			}
			host, portStr, _ := net.SplitHostPort(addr)
			port, _ := strconv.Atoi(portStr)
			if host != "127.0.0.2" || port < lowest || port >= ephemeralStart() {
				t.Fatalf("%s: want 127.0.0.2 and a port in [%d, %d)", addr, lowest, ephemeralStart())
			}
			if err := tryBind(network, addr); err != nil {
				t.Fatalf("the port it returned does not bind: %v", err)
			}
		})
	}
}

func TestATakenPortIsNotReturned(t *testing.T) {
	if err := tryBind("sctp", "127.0.0.1:1"); err == nil {
		t.Error("an unknown network was accepted")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := tryBind("tcp", ln.Addr().String()); err == nil {
		t.Errorf("%s is taken, yet tryBind bound it", ln.Addr())
	}
}
