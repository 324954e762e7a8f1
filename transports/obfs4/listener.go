package obfs4

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"gitlab.com/yawning/obfs4.git/transports/base"
	obfs4lib "gitlab.com/yawning/obfs4.git/transports/obfs4"
	pt "gitlab.torproject.org/tpo/anti-censorship/pluggable-transports/goptlib"

	"github.com/umbrella-edge/edge/internal/statefile"
	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/admission"
)

// StateFile is the file in ListenConfig.StateDir that holds the listener's node ID,
// identity key, DRBG seed and iat-mode. It is obfs4proxy's own obfs4_state.json, so an
// operator can move an obfs4proxy bridge's identity here (and its cert= stays the same).
const StateFile = "obfs4_state.json"

func listen(ctx context.Context, cfg transports.ListenConfig) (*listener, error) {
	sf, err := serverFactory(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := transports.ListenTCP(ctx, cfg.Addr)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := &listener{
		ln:       ln,
		sf:       sf,
		pool:     cfg.Admission,
		args:     fromPTArgs(sf.Args()),
		log:      log,
		accepted: make(chan net.Conn),
		done:     make(chan struct{}),
		pending:  make(map[net.Conn]struct{}),
	}
	l.wg.Go(l.acceptLoop)
	return l, nil
}

// serverArgs reads a listener's iat-mode=, its only argument, as the library takes it.
func serverArgs(args transports.Args) (*pt.Args, error) {
	if err := args.Unknown(argIATMode); err != nil {
		return nil, err
	}
	ptArgs := pt.Args{}
	if _, ok := args[argIATMode]; ok {
		iat, err := args.Int(argIATMode, 0, 0, 2)
		if err != nil {
			return nil, err
		}
		if iat == iatParanoid {
			return nil, &transports.ArgError{Key: argIATMode, Err: errParanoidIAT}
		}
		ptArgs.Add(argIATMode, strconv.Itoa(iat))
	}
	return &ptArgs, nil
}

// errParanoidIAT is why a listener refuses iat-mode=2: see libraryWrite.
var errParanoidIAT = errors.New("2 (paranoid) is refused: the reference obfs4 library's paranoid writes fail every few megabytes, and each failure costs a carrier; use 0 or 1")

// checkListen checks the arguments, and that a state file already in the state
// directory is one that others cannot read (it holds the bridge's private key).
func checkListen(cfg transports.ListenConfig) error {
	if _, err := serverArgs(cfg.Args); err != nil {
		return err
	}
	if cfg.StateDir == "" {
		return nil
	}
	path := filepath.Join(cfg.StateDir, StateFile)
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil // made on first start
	case err != nil:
		return fmt.Errorf("state: %w", err)
	}
	if err := statefile.CheckPrivate(path, fi); err != nil {
		return fmt.Errorf("state %w", err)
	}
	return nil
}

// serverFactory loads the listener's obfs4 identity from cfg.StateDir, making one on
// first start, with iat-mode= from cfg.Args when given (and then kept in the state).
func serverFactory(cfg transports.ListenConfig) (base.ServerFactory, error) {
	ptArgs, err := serverArgs(cfg.Args)
	if err != nil {
		return nil, err
	}
	dir := cfg.StateDir
	if dir == "" {
		// The library always writes its state file; a private directory removed at
		// once makes the identity live in memory only, for this run.
		tmp, err := os.MkdirTemp("", "umbrella-obfs4-")
		if err != nil {
			return nil, fmt.Errorf("state: %w", err)
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	sf, err := (&obfs4lib.Transport{}).ServerFactory(dir, ptArgs)
	if err != nil {
		return nil, fmt.Errorf("state in %s: %w", dir, err)
	}
	return sf, nil
}

// listener runs each peer's obfs4 handshake in the background and hands Accept only
// the peers that completed it. A peer that fails it (a prober, a replay) never
// reaches the gateway: the library reads and discards what it sends until a close
// time drawn for that connection and counted from the connect, whatever was sent (see
// rawConn). Handshakes take places in the gateway's pool, as its own do.
type listener struct {
	ln   net.Listener
	sf   base.ServerFactory
	pool *admission.Pool
	args transports.Args
	log  *slog.Logger

	accepted  chan net.Conn
	done      chan struct{}
	closeOnce sync.Once

	mu      sync.Mutex
	pending map[net.Conn]struct{} // handshakes running, closed by Close
	wg      sync.WaitGroup        // the accept loop and the handshakes
}

func (l *listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.accepted:
		return c, nil
	case <-l.done:
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.ln.Addr(), Err: net.ErrClosed}
	}
}

func (l *listener) Addr() net.Addr { return l.ln.Addr() }

// BridgeArgs are cert= and iat-mode=, as obfs4proxy prints them.
func (l *listener) BridgeArgs() transports.Args { return l.args.Clone() }

// Close stops accepting and ends the handshakes still running; conns already
// accepted stay open.
func (l *listener) Close() error {
	var err error
	l.closeOnce.Do(func() {
		close(l.done)
		err = l.ln.Close()
		l.mu.Lock()
		for c := range l.pending {
			c.Close()
		}
		l.mu.Unlock()
		l.wg.Wait()
	})
	return err
}

func (l *listener) acceptLoop() {
	for {
		raw, err := transports.Accept(l.ln, l.done, l.log)
		if err != nil {
			return
		}
		if !l.track(raw) {
			raw.Close()
			return
		}
		l.wg.Go(func() { l.handshake(raw) })
	}
}

// track records a handshake in progress, unless the listener is closing.
func (l *listener) track(raw net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-l.done:
		return false
	default:
	}
	l.pending[raw] = struct{}{}
	return true
}

// untrack forgets a handshake that ended; it may be called more than once.
func (l *listener) untrack(raw net.Conn) {
	l.mu.Lock()
	delete(l.pending, raw)
	l.mu.Unlock()
}

func (l *listener) handshake(raw net.Conn) {
	rc := newRawConn(raw.(*net.TCPConn), l.pool)
	defer l.untrack(raw)
	if !rc.awaitFirstByte() {
		l.log.Debug("obfs4 handshake failed", "reason", "silent")
		return
	}
	oc, err := l.sf.WrapConn(rc)
	if err != nil {
		// The library has already discarded the peer's bytes until its close time
		// and closed the conn, except when it failed before reading.
		rc.Close()
		l.log.Debug("obfs4 handshake failed", "reason", handshakeFailure(err))
		return
	}
	if rc.ticket.Release() {
		rc.Close() // evicted as it finished: it passed obfs4, so no prober learns anything
		return
	}
	c := newConn(oc, rc.tcp)
	// Out of pending before Accept can return it: Close closes what is pending, and an
	// accepted conn outlives the listener. A Close from here on is seen by the select.
	l.untrack(raw)
	select {
	case l.accepted <- c:
	case <-l.done:
		c.Close()
	}
}

// handshakeFailure names why a handshake failed without the addresses that net's
// errors carry, so logs hold no client IP.
func handshakeFailure(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, obfs4lib.ErrReplayedHandshake):
		return "replay"
	case errors.Is(err, obfs4lib.ErrInvalidHandshake):
		return "not obfs4"
	case errors.Is(err, obfs4lib.ErrNtorFailed):
		return "ntor failed"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, io.EOF):
		return "peer closed"
	case errors.Is(err, net.ErrClosed):
		return "listener closed"
	}
	return "error"
}

func fromPTArgs(a *pt.Args) transports.Args {
	out := transports.Args{}
	for k := range *a {
		v, _ := a.Get(k)
		out[k] = v
	}
	return out
}
