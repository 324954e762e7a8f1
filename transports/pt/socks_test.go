package pt

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	goptlib "gitlab.torproject.org/tpo/anti-censorship/pluggable-transports/goptlib"

	"github.com/umbrella-edge/edge/transports"
)

func TestSOCKSAuthEncodesAsTorDoes(t *testing.T) {
	long := strings.Repeat("a", 300)
	tests := []struct {
		name       string
		args       transports.Args
		user, pass string
	}{
		{"no arguments, no authentication", nil, "", ""},
		{"sorted and joined by ';', NUL password", transports.Args{"iat-mode": "0", "cert": "AB+/"}, "cert=AB+/;iat-mode=0", "\x00"},
		{"'\\', '=' and ';' escaped", transports.Args{"k": `a=b;c\d`}, `k=a\=b\;c\\d`, "\x00"},
		{"split at 255 bytes", transports.Args{"k": long}, ("k=" + long)[:255], ("k=" + long)[255:]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			user, pass, err := socksAuth(tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if string(user) != tt.user || string(pass) != tt.pass {
				t.Errorf("socksAuth(%v) = %q, %q; want %q, %q", tt.args, user, pass, tt.user, tt.pass)
			}
		})
	}
}

func TestSOCKSAuthRefusesWhatCannotBeSent(t *testing.T) {
	for name, args := range map[string]transports.Args{
		"more than 510 bytes": {"k": strings.Repeat("a", 509)},
		"a NUL byte":          {"k": "a\x00b"},
		"an empty key":        {"": "v"},
	} {
		if _, _, err := socksAuth(args); err == nil {
			t.Errorf("%s: socksAuth accepted %q", name, args)
		}
	}
}

// FuzzSOCKSArgs sends arguments through our SOCKS5 client to goptlib's SOCKS5 server,
// the child side every Go pluggable transport uses: what it parses must be what was
// sent, for every argument socksAuth accepts.
func FuzzSOCKSArgs(f *testing.F) {
	f.Add("cert", "AAAA+/==", "iat-mode", "0", "198.51.100.7:443")
	f.Add(`a=b`, `c;d\`, "", "", "[2001:db8::1]:80")
	f.Add("url", "https://cdn.example.com/"+strings.Repeat("x", 300), "front", "a.example", "bridge.example.net:443")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2, target string) {
		args := transports.Args{k1: v1}
		if k2 != "" {
			args[k2] = v2
		}
		user, pass, err := socksAuth(args)
		if err != nil {
			return
		}
		if _, err := connectRequest(target); err != nil {
			return
		}
		got, err := throughGoptlib(t, target, user, pass)
		if err != nil {
			t.Fatalf("args %q to %q through goptlib: %v", args, target, err)
		}
		if len(got.Args) != len(args) {
			t.Fatalf("sent %q, goptlib parsed %q", args, got.Args)
		}
		for k, v := range args {
			if vs := got.Args[k]; len(vs) != 1 || vs[0] != v {
				t.Fatalf("sent %q, goptlib parsed %q", args, got.Args)
			}
		}
		if !sameTarget(got.Target, target) {
			t.Fatalf("CONNECT %q arrived as %q", target, got.Target)
		}
	})
}

// throughGoptlib runs socksConnect against goptlib's SOCKS5 server over an in-memory
// pipe and returns the request goptlib read.
func throughGoptlib(t *testing.T, target string, user, pass []byte) (goptlib.SocksRequest, error) {
	client, server := net.Pipe()
	defer client.Close()
	ln := &oneConnListener{conn: server, done: make(chan struct{})}
	type result struct {
		req goptlib.SocksRequest
		err error
	}
	accepted := make(chan result, 1)
	go func() {
		sc, err := goptlib.NewSocksListener(ln).AcceptSocks()
		if err != nil {
			accepted <- result{err: err}
			return
		}
		accepted <- result{req: sc.Req, err: sc.Grant(nil)}
	}()
	client.SetDeadline(time.Now().Add(10 * time.Second))
	err := socksConnect(client, target, user, pass)
	ln.Close()
	r := <-accepted
	server.Close()
	return r.req, errors.Join(err, r.err)
}

// oneConnListener hands out one conn, then blocks until closed.
type oneConnListener struct {
	conn net.Conn
	done chan struct{}
	once bool
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	if !l.once {
		l.once = true
		return l.conn, nil
	}
	<-l.done
	return nil, net.ErrClosed
}

func (l *oneConnListener) Close() error {
	select {
	case <-l.done:
	default:
		close(l.done)
	}
	return nil
}

func (l *oneConnListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// sameTarget compares host:port targets, IP addresses by value.
func sameTarget(a, b string) bool {
	ah, ap, err1 := net.SplitHostPort(a)
	bh, bp, err2 := net.SplitHostPort(b)
	if err1 != nil || err2 != nil {
		return false
	}
	if n1, err := strconv.Atoi(ap); err != nil || fmt.Sprint(n1) != strings.TrimLeft(bp, "0") && !(n1 == 0 && strings.Trim(bp, "0") == "") {
		return false
	}
	aip, err1 := netip.ParseAddr(ah)
	bip, err2 := netip.ParseAddr(bh)
	if err1 == nil && err2 == nil {
		return aip.Unmap() == bip.WithZone("").Unmap()
	}
	return ah == bh
}
