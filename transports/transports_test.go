package transports_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/transports"
)

type named string

func (n named) Name() string { return string(n) }
func (named) NewDialer(string, transports.Args) (transports.Dialer, error) {
	return nil, errors.New("unused")
}
func (named) Listen(context.Context, transports.ListenConfig) (transports.Listener, error) {
	return nil, errors.New("unused")
}

func TestRegistry(t *testing.T) {
	r, err := transports.NewRegistry(named("b"), named("a"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(r.Names(), ","); got != "a,b" {
		t.Errorf("Names() = %s, want a,b", got)
	}
	if _, err := r.Get("c"); !errors.Is(err, transports.ErrUnknownTransport) || !strings.Contains(err.Error(), `"c"`) {
		t.Errorf("Get(c) = %v, want ErrUnknownTransport naming c", err)
	}
	if _, err := transports.NewRegistry(named("a"), named("a")); err == nil {
		t.Error("a registry with two transports of one name was accepted")
	}
}

// closing is a transport that runs something of its own until it is closed.
type closing struct {
	named
	closed int
	err    error
}

func (c *closing) Close() error { c.closed++; return c.err }

func TestRegistryCloseClosesWhatRunsOnItsOwn(t *testing.T) {
	quiet, failing := &closing{named: "pt"}, &closing{named: "other", err: errors.New("stuck")}
	r, err := transports.NewRegistry(named("tcp"), quiet, failing)
	if err != nil {
		t.Fatal(err)
	}
	err = r.Close()
	if quiet.closed != 1 || failing.closed != 1 {
		t.Fatalf("Close closed pt %d times and other %d times; want each once", quiet.closed, failing.closed)
	}
	if !errors.Is(err, failing.err) || !strings.Contains(err.Error(), "other") {
		t.Fatalf("Close = %v; want the failing transport's error, naming it", err)
	}
	if empty, _ := transports.NewRegistry(named("tcp")); empty.Close() != nil {
		t.Fatal("closing a registry of transports that hold nothing failed")
	}
}

func TestArgs(t *testing.T) {
	a := transports.Args{"fp": "chrome", "frag": "300", "flag": "yes"}
	for _, tc := range []struct {
		name string
		err  error
		want string // substring of the error; empty for success
	}{
		{"required present", func() error { _, err := a.Required("fp"); return err }(), ""},
		{"required missing", func() error { _, err := a.Required("cert"); return err }(), "cert=: missing"},
		{"int in range", func() error { _, err := a.Int("frag", 0, 0, 1000); return err }(), ""},
		{"int out of range", func() error { _, err := a.Int("frag", 0, 0, 100); return err }(), "frag=: want an integer in [0, 100]"},
		{"bool malformed", func() error { _, err := a.Bool("flag", false); return err }(), `flag=: want true or false, got "yes"`},
		{"unknown argument", a.Unknown("fp", "frag"), "flag=: unknown argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			switch {
			case tc.want == "" && tc.err != nil:
				t.Fatalf("unexpected error %v", tc.err)
			case tc.want != "" && (tc.err == nil || !strings.Contains(tc.err.Error(), tc.want)):
				t.Fatalf("error %v, want one containing %q", tc.err, tc.want)
			}
			var ae *transports.ArgError
			if tc.err != nil && !errors.As(tc.err, &ae) {
				t.Fatalf("error %v is not an ArgError", tc.err)
			}
		})
	}
}

func TestCheckHostPort(t *testing.T) {
	for addr, ok := range map[string]bool{
		"203.0.113.5:443": true, "[2001:db8::1]:443": true, "bridge.example:8443": true,
		"203.0.113.5": false, ":443": false, "host:0": false, "host:65536": false, "host:https": false,
		"host:0443": false, "[bridge.example]:443": false, "2001:db8::1:443": false,
	} {
		if err := transports.CheckHostPort(addr); (err == nil) != ok {
			t.Errorf("CheckHostPort(%q) = %v, want ok=%v", addr, err, ok)
		}
	}
}

func TestCheckListenAddrTakesAnyHostAndPort(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:0": true, ":443": true, "[::]:0": true, "0.0.0.0:8443": true,
		"127.0.0.1": false, "host:65536": false, "::1:443": false,
	} {
		if err := transports.CheckListenAddr(addr); (err == nil) != ok {
			t.Errorf("CheckListenAddr(%q) = %v, want ok=%v", addr, err, ok)
		}
	}
}

func TestDialTCPReportsContextError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := transports.DialTCP(context.Background(), ln.Addr().String())
	if err != nil {
		t.Fatalf("DialTCP: %v", err)
	}
	c.Close()

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := transports.DialTCP(ctx, ln.Addr().String()); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled dial: %v, want context.Canceled", err)
	}
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	if err := transports.ContextError(expired, errors.New("i/o timeout")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("ContextError after the deadline = %v, want DeadlineExceeded", err)
	}
}

func TestDefinePrefixesErrorsWithTheTransport(t *testing.T) {
	errBad := errors.New("bad")
	tr := transports.Define("demo",
		func(string, transports.Args) (transports.Dialer, error) { return nil, errBad },
		func(context.Context, transports.ListenConfig) (transports.Listener, error) { return nil, errBad },
		func(transports.ListenConfig) error { return errBad })
	if tr.Name() != "demo" {
		t.Fatalf("Name() = %q, want demo", tr.Name())
	}
	if _, err := tr.NewDialer("a:1", nil); !errors.Is(err, errBad) || err.Error() != "demo: bad" {
		t.Fatalf("NewDialer error %q, want %q wrapping the constructor's", err, "demo: bad")
	}
	if _, err := tr.Listen(context.Background(), transports.ListenConfig{Addr: "127.0.0.1:0"}); !errors.Is(err, errBad) || err.Error() != "demo: listen 127.0.0.1:0: bad" {
		t.Fatalf("Listen error %q, want %q", err, "demo: listen 127.0.0.1:0: bad")
	}
	checker, ok := tr.(transports.ListenChecker)
	if !ok {
		t.Fatal("a defined transport is not a ListenChecker")
	}
	if err := checker.CheckListen(transports.ListenConfig{Addr: "127.0.0.1:0"}); !errors.Is(err, errBad) || err.Error() != "demo: bad" {
		t.Fatalf("CheckListen error %q, want %q", err, "demo: bad")
	}
}

// scriptedListener returns its errors in turn, then a conn, then net.ErrClosed.
type scriptedListener struct {
	net.Listener
	errs []error
	conn net.Conn
}

func (l *scriptedListener) Accept() (net.Conn, error) {
	if len(l.errs) > 0 {
		err := l.errs[0]
		l.errs = l.errs[1:]
		return nil, err
	}
	if c := l.conn; c != nil {
		l.conn = nil
		return c, nil
	}
	return nil, net.ErrClosed
}

func TestAcceptRetriesUntilClosed(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	emfile := errors.New("accept: too many open files")
	ln := &scriptedListener{errs: []error{emfile, emfile}, conn: a}
	log := slog.New(slog.DiscardHandler)
	if c, err := transports.Accept(ln, nil, log); err != nil || c != a {
		t.Fatalf("Accept = %v, %v; want the conn after two failed accepts", c, err)
	}
	if _, err := transports.Accept(ln, nil, log); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept on a closed listener = %v, want net.ErrClosed", err)
	}
	done := make(chan struct{})
	close(done)
	ln = &scriptedListener{errs: []error{emfile}, conn: a}
	if _, err := transports.Accept(ln, done, log); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after done = %v, want net.ErrClosed", err)
	}
}
