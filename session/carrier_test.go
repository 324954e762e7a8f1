package session

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// cutConn closes its carrier once limit bytes have gone through it (reads and writes
// together), in the middle of whatever record is passing: a censor's reset or a
// network that went away. With reset, a TCP carrier sends an RST instead of a FIN.
type cutConn struct {
	net.Conn
	limit int64
	reset bool
	used  atomic.Int64
	once  sync.Once
}

var errCut = errors.New("carrier cut by the test")

func (c *cutConn) take(n int) int {
	used := c.used.Add(int64(n))
	if used <= c.limit {
		return n
	}
	return max(0, n-int(used-c.limit))
}

func (c *cutConn) cut() {
	c.once.Do(func() {
		if tc, ok := c.Conn.(*net.TCPConn); ok && c.reset {
			tc.SetLinger(0)
		}
		c.Conn.Close()
	})
}

func (c *cutConn) Write(p []byte) (int, error) {
	k := c.take(len(p))
	n, err := c.Conn.Write(p[:k])
	if k < len(p) {
		c.cut()
		return n, errCut
	}
	return n, err
}

func (c *cutConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if k := c.take(n); k < n {
		c.cut()
		return k, errCut
	}
	return n, err
}

// freezeConn passes writes until limit bytes, then silently drops them, as Russia's
// censor does to a connection's server-to-client direction after 16–20 KB. Reads go
// on, and nothing tells either end.
type freezeConn struct {
	net.Conn
	limit   int64
	written atomic.Int64
}

func (c *freezeConn) Write(p []byte) (int, error) {
	before := c.written.Add(int64(len(p))) - int64(len(p))
	if before >= c.limit {
		return len(p), nil
	}
	k := min(int64(len(p)), c.limit-before)
	if _, err := c.Conn.Write(p[:k]); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *freezeConn) frozen() bool { return c.written.Load() > c.limit }

func resumableConfigs() (*ClientConfig, *ServerConfig) {
	cc, sc := testConfigs()
	sc.Sessions = NewRegistry()
	return cc, sc
}

// pairUp runs a new-session handshake over conns the test built (wrapped as it
// likes), closing each side's conn if its side fails.
func pairUp(t testing.TB, cconn, sconn net.Conn, cc *ClientConfig, sc *ServerConfig) (client, server *Session) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangTimeout)
	defer cancel()
	var serr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		if server, _, serr = Server(ctx, sconn, sc); serr != nil {
			sconn.Close()
		}
	}()
	client, cerr := Client(ctx, cconn, cc)
	if cerr != nil {
		cconn.Close()
	}
	<-done
	t.Cleanup(func() {
		for _, s := range []*Session{client, server} {
			if s != nil {
				s.Close()
			}
		}
	})
	if cerr != nil || serr != nil {
		t.Fatalf("handshake: client error %v, gateway error %v", cerr, serr)
	}
	return client, server
}

// resumeOnce re-attaches client over a new carrier pair; the gateway side must
// report Resumed. It returns the client's error and the gateway's.
func resumeOnce(t testing.TB, client *Session, cconn, sconn net.Conn, cc *ClientConfig, sc *ServerConfig) (cerr, serr error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangTimeout)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s, outcome, err := Server(ctx, sconn, sc)
		switch {
		case err == nil && outcome == Resumed:
		case err == nil:
			s.Close()
			serr = errors.New("Server opened a new session for a resume hello")
		default:
			serr = err
			sconn.Close()
		}
	}()
	if cerr = client.Resume(ctx, cconn, cc); cerr != nil {
		cconn.Close()
	}
	<-done
	return cerr, serr
}

// resumer re-attaches a client each time its carrier dies, as the client package's
// failover does, over new pairs from c that wrap prepares, until stopped.
type resumer struct {
	stop    chan struct{}
	done    chan struct{}
	resumes atomic.Int32
	mu      sync.Mutex
	errs    []error // gateway-side failures other than the cut carriers' own
}

func startResumer(t *testing.T, c carrier, client *Session, cc *ClientConfig, sc *ServerConfig, wrap func(i int, cconn, sconn net.Conn) (net.Conn, net.Conn)) *resumer {
	r := &resumer{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for i := 1; ; i++ {
			select {
			case <-client.CarrierDone():
			case <-client.Done():
				return
			case <-r.stop:
				return
			}
			cconn, sconn := c.pair(t)
			cw, sw := wrap(i, cconn, sconn)
			cerr, serr := resumeOnce(t, client, cw, sw, cc, sc)
			switch {
			case cerr == nil && serr == nil:
				r.resumes.Add(1)
			case cerr == nil:
				r.fail(serr)
			case !errors.Is(cerr, ErrNoAnswer):
				r.fail(cerr)
				return
			}
			// A carrier cut during the handshake fails it (ErrNoAnswer); the client
			// tries again with the ticket it holds, which may be the one before.
		}
	}()
	t.Cleanup(r.halt)
	return r
}

func (r *resumer) fail(err error) {
	r.mu.Lock()
	r.errs = append(r.errs, err)
	r.mu.Unlock()
}

func (r *resumer) halt() {
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	<-r.done
}

func (r *resumer) check(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, err := range r.errs {
		t.Errorf("resume: %v", err)
	}
}
