package dns

import (
	"context"
	"crypto/x509"
	"net"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/internal/labca"
	"github.com/umbrella-edge/edge/internal/unboundtest"
	"github.com/umbrella-edge/edge/transports"
)

const (
	testDomain   = "t.example.org"
	resolverName = "resolver.example"
)

// hangGuard bounds every wait in these tests; it only turns a hang into a failure.
const hangGuard = 30 * time.Second

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), hangGuard)
	t.Cleanup(cancel)
	return ctx
}

// listenZone starts a listener for testDomain on loopback, closed when the test ends.
func listenLoopback(t *testing.T) transports.Listener {
	t.Helper()
	ln, err := New(nil).Listen(context.Background(), transports.ListenConfig{
		Addr: "127.0.0.1:0",
		Args: transports.Args{argDomain: testDomain},
	})
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// resolver is a real unbound in front of a listener, serving plain DNS, DoT and DoH
// with a certificate of a test CA.
type resolver struct {
	*unboundtest.Unbound
	roots *x509.CertPool
}

// startResolver runs unbound with testDomain's stub zone pointing at ln, for the rest
// of the test. When the test ends, ln is closed and unbound stays until ln's last
// tunnel has ended, so that closing carriers finish through it rather than wait out
// their linger.
func startResolver(t *testing.T, ln transports.Listener) *resolver {
	t.Helper()
	ca, err := labca.New("dns test CA")
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := ca.WriteKeyPair(t.TempDir(), resolverName)
	if err != nil {
		t.Fatal(err)
	}
	addrs, err := unboundtest.FreeAddrs("127.0.0.1", "both", "tcp", "tcp")
	if err != nil {
		t.Fatal(err)
	}
	u := unboundtest.Start(t, unboundtest.Config{
		Listen: addrs[0], TLS: addrs[1], HTTPS: addrs[2], CertFile: cert, KeyFile: key,
		Stubs: map[string]string{testDomain: ln.Addr().String()},
	})
	t.Cleanup(func() {
		ln.Close()
		select {
		case <-ln.(*listener).drained():
		case <-time.After(2 * lingerTimeout):
		}
	})
	return &resolver{Unbound: u, roots: ca.Pool()}
}

// line returns the bridge address and arguments that reach the gateway through r
// over kind.
func (r *resolver) line(kind resolverKind) (string, transports.Args) {
	args := transports.Args{argDomain: testDomain}
	_, tlsPort, _ := net.SplitHostPort(r.Config.TLS)
	_, httpsPort, _ := net.SplitHostPort(r.Config.HTTPS)
	switch kind {
	case overTLS:
		args[argDoT] = net.JoinHostPort(resolverName, tlsPort)
	case overHTTPS:
		args[argDoH] = "https://" + net.JoinHostPort(resolverName, httpsPort) + unboundtest.DoHPath
	}
	return r.Config.Listen, args
}

// dialer returns a dialer that reaches the gateway through r over kind.
func (r *resolver) dialer(t *testing.T, kind resolverKind) *Dialer {
	t.Helper()
	addr, args := r.line(kind)
	d, err := newDialer(addr, args, r.roots)
	if err != nil {
		t.Fatalf("NewDialer(%s, %v): %v", addr, args, err)
	}
	return d
}
