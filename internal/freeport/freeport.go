// Package freeport finds a loopback port that a test, the lab, the demo or the bench
// can name before the program that binds it starts (a gateway's config, nginx's
// listen line). It is for those tools only; servers bind port 0 where they can.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// The ports are picked below the kernel's ephemeral range: a port there is never
// taken in passing by an outgoing connection's source address, which is what took the
// ports that net.Listen(":0") had just handed out and closed again when the test
// suite ran its packages side by side ("bind: address already in use", a failure
// in some tens of runs). Another process picking the same port in the moment between
// the check and the bind is still possible, but only as likely as two random draws
// from the range meeting.
const (
	lowest           = 10000 // above the well-known and most registered ports
	defaultEphemeral = 32768 // Linux's default net.ipv4.ip_local_port_range start
	attempts         = 64
)

// TCP returns host:port with a port on which a TCP listener on host could bind a
// moment ago. host is a loopback address such as "127.0.0.2".
func TCP(host string) (string, error) { return pick("tcp", host) }

// UDP is TCP for a UDP socket.
func UDP(host string) (string, error) { return pick("udp", host) }

// For is TCP or UDP by network name ("tcp", "udp").
func For(network, host string) (string, error) { return pick(network, host) }

func pick(network, host string) (string, error) {
	top := ephemeralStart()
	var last error
	for range attempts {
		addr := net.JoinHostPort(host, strconv.Itoa(lowest+rand.IntN(top-lowest)))
		if last = tryBind(network, addr); last == nil {
			return addr, nil
		}
	}
	return "", fmt.Errorf("freeport: no free %s port on %s in %d tries: %w", network, host, attempts, last)
}

func tryBind(network, addr string) error {
	switch network {
	case "udp":
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return err
		}
		return pc.Close()
	case "tcp":
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return err
		}
		return ln.Close()
	}
	return fmt.Errorf("freeport: network %q: want tcp or udp", network)
}

// ephemeralStart is the first port of the kernel's ephemeral range.
func ephemeralStart() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return defaultEphemeral
	}
	f := strings.Fields(string(b))
	if len(f) < 1 {
		return defaultEphemeral
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n <= lowest+1000 {
		return defaultEphemeral
	}
	return n
}
