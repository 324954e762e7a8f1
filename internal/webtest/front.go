package webtest

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/internal/nginxtest"
	"github.com/umbrella-edge/edge/transports"
)

// BrowserHeaders are a browser's request headers, Firefox's. (nginx pads its error
// pages for user agents naming MSIE or Chrome, msie_padding; the decoy package does not
// yet, so a Chrome User-Agent would compare a difference that is not the transport's.)
const BrowserHeaders = "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:153.0) Gecko/20100101 Firefox/153.0\r\n" +
	"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\nAccept-Language: en-US,en;q=0.9\r\n"

// AcceptCounter counts the conns a listener's Accept returns.
type AcceptCounter struct {
	mu    sync.Mutex
	n     int
	conns []net.Conn
}

// Accepted accepts from ln until the test ends, counts what it gets and reads it.
func Accepted(t *testing.T, ln transports.Listener) *AcceptCounter {
	a := new(AcceptCounter)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			a.mu.Lock()
			a.n++
			a.conns = append(a.conns, c)
			a.mu.Unlock()
			// Read what comes, as a gateway reading a session hello would.
			go io.Copy(io.Discard, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range a.conns {
			c.Close()
		}
	})
	return a
}

func (a *AcceptCounter) Count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n
}

// WaitFor waits until n conns were accepted and returns the last.
func (a *AcceptCounter) WaitFor(t *testing.T, n int) net.Conn {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		a.mu.Lock()
		if a.n >= n {
			c := a.conns[n-1]
			a.mu.Unlock()
			return c
		}
		a.mu.Unlock()
	}
	t.Fatalf("Accept returned %d conns, want %d", a.Count(), n)
	return nil
}

// ReferenceNginx serves site over TLS as an ordinary nginx website, the thing a
// gateway that is its own front must be indistinguishable from.
func ReferenceNginx(t *testing.T, site, serverName string) string {
	addr := nginxtest.FreeAddr(t, "127.0.0.3")
	cert, key := Certificate(t, serverName)
	nginxtest.Start(t, `server {
		listen `+addr+` ssl;
		server_name `+serverName+`;
		server_tokens off;
		ssl_certificate `+cert+`;
		ssl_certificate_key `+key+`;
		root `+site+`;
		index index.html;
	}`, addr)
	return addr
}
