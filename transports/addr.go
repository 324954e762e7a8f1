package transports

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// The address checks of the whole module live here, at its lowest layer, so that a
// bridge line, a transport's dialer and a config file accept the same addresses and
// say the same thing about the ones they refuse.

// CheckHostPort accepts the address of a peer to connect to: host:port with a host and
// a port in 1..65535, IPv6 in brackets. A bad bridge line or backend address so fails
// when it is loaded rather than on every dial.
func CheckHostPort(addr string) error {
	if err := checkHostPort(addr, false); err != nil {
		return err
	}
	if host, _, _ := net.SplitHostPort(addr); host == "" {
		return errors.New("missing host")
	}
	return nil
}

// CheckListenAddr accepts an address to listen on: host:port where the host may be
// empty (all interfaces) and port 0 picks a free port.
func CheckListenAddr(addr string) error { return checkHostPort(addr, true) }

// checkHostPort checks a host:port; the host may be empty, and port 0 only when
// allowZeroPort.
func checkHostPort(addr string, allowZeroPort bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		var ae *net.AddrError
		switch {
		case errors.As(err, &ae) && ae.Err == "missing port in address":
			return errors.New("missing port")
		case errors.As(err, &ae) && ae.Err == "too many colons in address":
			return errors.New("IPv6 addresses need brackets, as in [::1]:443")
		}
		return errors.New("want host:port")
	}
	if strings.HasPrefix(addr, "[") {
		if a, err := netip.ParseAddr(host); err != nil || !a.Is6() {
			return fmt.Errorf("%q in brackets is not an IPv6 address", host)
		}
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || (n == 0 && !allowZeroPort) || strconv.FormatUint(n, 10) != port {
		min := 1
		if allowZeroPort {
			min = 0
		}
		return fmt.Errorf("port %q: want a number in %d..65535", port, min)
	}
	return nil
}

// IsHostName reports whether h is an IP address or a DNS name (letters, digits, '-',
// '_' and dots).
func IsHostName(h string) bool {
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	if len(h) == 0 || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, c := range []byte(label) {
			if !isAlnum(c) && c != '-' && c != '_' {
				return false
			}
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}
