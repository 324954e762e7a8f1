package session

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Session is an established session. Its byte stream outlives the carrier it runs
// on: when the carrier dies the session is detached, its streams wait, and Resume (on
// the client) re-attaches it over a new carrier of any transport.
type Session struct {
	link       *link
	mux        *mux
	acct       *account // the gateway's budget; nil on a client
	id         ID
	server     bool
	maxStreams int32
	streams    atomic.Int32
	in, out    atomic.Uint64
	ctx        context.Context // done when the session ends
	cancel     context.CancelFunc
	endOnce    sync.Once
	ending     atomic.Bool // set first thing in end, so a resume cannot claim a dying session
	causeMu    sync.Mutex
	cause      error // why the session ended; nil while it lives

	client clientState
	srv    serverState
}

type sessionOptions struct {
	server      bool
	idlePing    time.Duration
	maxStreams  int
	buffer      int
	store       Store
	registry    *Registry
	grace       time.Duration
	gatewayKeys []ed25519.PublicKey
	budget      *Budget
	openRate    float64
	openBurst   int
	now         func() time.Time
}

func newSession(conn net.Conn, res handshakeResult, o sessionOptions) (*Session, error) {
	rc, err := recordConnFor(conn, res.keys, o.server)
	if err != nil {
		return nil, err
	}
	s := &Session{
		id:         res.id,
		server:     o.server,
		maxStreams: int32(o.maxStreams),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	var lim muxLimits
	if o.server {
		s.acct = o.budget.open(s.id, func(err error) { s.end(err, false) })
		lim = muxLimits{acct: s.acct, opens: newOpenLimiter(o.openRate, o.openBurst, o.now)}
	}
	s.link = newLink(o.buffer, s.acct)
	switch {
	case o.server:
		s.link.idle = GatewayIdlePing
	case o.idlePing > 0:
		s.link.idle = o.idlePing
	}
	s.link.onDetach = s.detached
	s.link.onFatal = func(err error) { s.end(err, false) }
	s.mux = newMux(s.link, o.server, func(err error) { s.end(err, false) }, lim)
	var confirm func()
	if o.server {
		s.srv = serverState{registry: o.registry, store: o.store, grace: o.grace, state: res.state}
		if o.registry != nil {
			confirm = s.srv.tickets.start(&res.rs)
			o.registry.add(s)
		}
	} else {
		s.client = clientState{gatewayKeys: o.gatewayKeys, canResume: res.ticket != nil, ticket: res.ticket, rs: res.rs}
		s.client.learn(res.next)
		s.link.sampleRTT(res.rtt)
	}
	if err := s.link.attach(rc, res.peerReceived, confirm); err != nil {
		s.end(err, false)
		return nil, err
	}
	return s, nil
}

// ID returns the session's ID, chosen by the gateway.
func (s *Session) ID() ID { return s.id }

// NumStreams returns how many streams are open: accepted or being answered on the
// gateway, opened and not yet closed on the client.
func (s *Session) NumStreams() int { return int(s.streams.Load()) }

// Bytes returns how many bytes of stream data the session has received and sent.
func (s *Session) Bytes() (in, out uint64) { return s.in.Load(), s.out.Load() }

// Done is closed when the session ends: closed by either side, a protocol violation,
// a rejected resume, or, on the gateway, no resume within the grace period after its
// carrier died. A dead carrier alone does not end a session that can resume.
func (s *Session) Done() <-chan struct{} { return s.ctx.Done() }

// Context is done when the session ends (Done). What must happen then can wait for it
// with context.AfterFunc, which holds no goroutine until then.
func (s *Session) Context() context.Context { return s.ctx }

// Err reports why the session ended: ErrClosed after Close (by either side),
// ErrRecord after a protocol violation, ErrResumeRejected, or the carrier's error for
// a session that could not resume. It is nil while the session lives.
func (s *Session) Err() error {
	s.causeMu.Lock()
	defer s.causeMu.Unlock()
	return s.cause
}

// deadError explains a failed stream operation: if the session died, it says why and
// wraps ErrClosed.
func (s *Session) deadError(what string, err error) error {
	// The cause is set before anything else ends, so an error that the ending caused
	// finds it.
	dead := errors.Is(err, ErrClosed) || s.Err() != nil
	if !dead {
		return fmt.Errorf("session: %s: %w", what, err)
	}
	cause := s.Err()
	if cause == nil || errors.Is(cause, ErrClosed) {
		return fmt.Errorf("session: %s: %w", what, ErrClosed)
	}
	return fmt.Errorf("session: %s: %w: %w", what, ErrClosed, cause)
}

// Close ends the session, its streams and its carrier, telling the peer (if the
// carrier works) after sending what is buffered. It is safe to call more than once
// and from any goroutine.
func (s *Session) Close() error {
	s.end(ErrClosed, true)
	return nil
}

// CarrierDone is closed when the carrier in use at the time of the call dies or is
// dropped; while the session is detached it is closed already. Each carrier has its
// own. A detached client session waits for Resume or Close; nothing ends it by time.
func (s *Session) CarrierDone() <-chan struct{} { return s.link.carrierDone() }

// DropCarrier closes the current carrier, which a watchdog has found dead; the
// session waits for Resume.
func (s *Session) DropCarrier() { s.link.drop(errDropped) }

// Progress reports the acknowledgement state of the current carrier.
func (s *Session) Progress() Progress { return s.link.progressReport() }

// SetIdlePing makes d (0: DefaultIdlePing) the interval of the pings the session sends
// while nothing else is outstanding, on this carrier and the next: an app moving to
// the background pings less, and one coming back more.
func (s *Session) SetIdlePing(d time.Duration) {
	if d <= 0 {
		d = DefaultIdlePing
	}
	s.link.setIdlePing(d)
}

// end ends the session once: the link, the mux and its streams, the registry entry.
func (s *Session) end(cause error, notify bool) {
	s.endOnce.Do(func() {
		s.ending.Store(true)
		if s.server {
			// Out of the registry before the streams close (and with them the
			// backend connections), so no resume can find a session that is going.
			s.srv.stopGrace()
			if s.srv.registry != nil {
				s.srv.registry.remove(s)
			}
		}
		s.causeMu.Lock()
		s.cause = cause
		s.causeMu.Unlock()
		s.link.end(cause, notify)
		s.mux.close(cause)
		s.acct.close()
		if s.server {
			if s.srv.store != nil {
				ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
				s.srv.store.Delete(ctx, s.id)
				cancel()
			}
		}
		s.cancel()
	})
}

// detached decides what a dead carrier means: the end, for a session that cannot
// resume or a gateway that is draining; otherwise a wait for Resume, bounded by the
// grace period on the gateway.
func (s *Session) detached(cause error) {
	switch {
	case s.server && s.srv.registry == nil, !s.server && !s.client.canResume:
		s.end(cause, false)
	case s.server && s.srv.registry.isDraining():
		s.end(errDrained, false)
	case s.server:
		s.srv.startGrace(s.link, func() { s.end(errGraceExpired, false) })
	}
}

var (
	errGraceExpired = fmt.Errorf("%w: not resumed within the grace period", ErrClosed)
	errDrained      = fmt.Errorf("%w: the gateway is shutting down", ErrClosed)
)
