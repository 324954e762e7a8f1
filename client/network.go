package client

import (
	"bufio"
	"encoding/hex"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
)

// defaultNetwork returns the client's default network identity: the default routes'
// interfaces and gateways (from the kernel's routing table) and the local address the
// kernel picks to reach the first bridge. Nothing is sent to find them: a UDP socket's
// connect only asks the kernel for a route. A phone moving from Wi-Fi to mobile data,
// or a laptop to another router, gets another identity; the memory hashes it.
func defaultNetwork(firstBridge string) func() string {
	return func() string {
		var parts []string
		if f, err := os.Open("/proc/net/route"); err == nil {
			parts = append(parts, defaultRoutes4(f)...)
			f.Close()
		}
		if f, err := os.Open("/proc/net/ipv6_route"); err == nil {
			parts = append(parts, defaultRoutes6(f)...)
			f.Close()
		}
		if local := localAddrFor(firstBridge); local != "" {
			parts = append(parts, "local "+local)
		}
		return strings.Join(parts, "\n")
	}
}

// localAddrFor returns the local IP the kernel would use to reach addr, when addr's
// host is an IP address (a name would need a DNS query, which is traffic).
func localAddrFor(addr string) string {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return ""
	}
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(ap))
	if err != nil {
		return ""
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().String()
}

// defaultRoutes4 reads Linux's /proc/net/route and returns "iface gateway" for each
// default route (destination and mask 0). Fields are hexadecimal in host byte order.
func defaultRoutes4(r io.Reader) []string {
	var out []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		// Iface Destination Gateway Flags RefCnt Use Metric Mask ...
		if len(f) < 8 || f[1] != "00000000" || f[7] != "00000000" {
			continue
		}
		gw, err := hex.DecodeString(f[2])
		if err != nil || len(gw) != 4 {
			continue
		}
		// The kernel writes host byte order; read as little-endian, a big-endian
		// machine gets the bytes reversed, which is harmless in a value only hashed.
		ip := netip.AddrFrom4([4]byte{gw[3], gw[2], gw[1], gw[0]})
		out = append(out, "route4 "+f[0]+" "+ip.String())
	}
	return out
}

// defaultRoutes6 reads Linux's /proc/net/ipv6_route and returns "iface nexthop" for each
// default route (::/0) that has a next hop.
func defaultRoutes6(r io.Reader) []string {
	var out []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		// dst dstlen src srclen nexthop metric refcnt use flags iface
		f := strings.Fields(sc.Text())
		if len(f) < 10 || f[1] != "00" || strings.Trim(f[0], "0") != "" {
			continue
		}
		nh, err := hex.DecodeString(f[4])
		if err != nil || len(nh) != 16 {
			continue
		}
		ip := netip.AddrFrom16([16]byte(nh))
		if ip.IsUnspecified() || f[9] == "lo" {
			continue
		}
		out = append(out, "route6 "+f[9]+" "+ip.String())
	}
	return out
}
