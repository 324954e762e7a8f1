package session

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/cloudflare/circl/kem"
)

// DefaultResumeGrace is how long a gateway keeps a detached session when its config
// says 0: long enough for a client to notice a dead carrier and race the others.
const DefaultResumeGrace = 2 * time.Minute

// clientState is what a client resumes with.
type clientState struct {
	gatewayKey ed25519.PublicKey
	// canResume: the gateway issued a ticket, so it keeps sessions. Set once.
	canResume bool

	mu     sync.Mutex // one Resume at a time; guards the ticket
	ticket []byte
	rs     [32]byte
}

// serverState is the gateway's side of resumption.
type serverState struct {
	registry *Registry
	store    Store
	grace    time.Duration

	tickets ticketBook // the tickets a resume hello may present

	mu         sync.Mutex
	state      State
	graceTimer *time.Timer
}

// Resume re-attaches the session over carrier, a new connection to the same gateway
// through any of its bridge lines (cfg: that bridge line's secret and endpoint; the
// gateway key must be the session's). The current carrier, if any, keeps working
// until the gateway has answered, and is then dropped. Bytes either side sent and the
// other did not receive are sent again: nothing is lost or duplicated.
//
// If the gateway no longer has the session, Resume returns ErrResumeRejected and the
// session ends with it. On any other error (ErrNoAnswer, ErrAuth) the session stays as
// it was, and the caller still owns carrier.
func (s *Session) Resume(ctx context.Context, carrier net.Conn, cfg *ClientConfig) error {
	if s.server {
		return fmt.Errorf("session: resume: only a client resumes")
	}
	if err := cfg.check(); err != nil {
		return err
	}
	if !bytes.Equal(cfg.GatewayKey, s.client.gatewayKey) {
		return fmt.Errorf("session: resume: %w: the bridge line's gateway key is not the session's", ErrAuth)
	}
	c := &s.client
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := s.Err(); err != nil {
		return s.deadError("resume", err)
	}
	if !c.canResume {
		s.end(fmt.Errorf("session: resume: %w: the gateway issued no ticket", ErrResumeRejected), false)
		return s.deadError("resume", ErrResumeRejected)
	}
	received, _ := s.link.offsets()
	res, err := runClientHandshake(ctx, carrier, cfg, &resumeRequest{id: s.id, ticket: c.ticket, rs: c.rs, received: received})
	if err != nil {
		if errors.Is(err, ErrResumeRejected) {
			s.end(err, false)
		}
		return err
	}
	rc, err := recordConnFor(carrier, res.keys, false)
	if err != nil {
		return err
	}
	if err := s.link.attach(rc, res.peerReceived, nil); err != nil {
		if errors.Is(err, errViolation) {
			s.end(err, false)
		}
		return s.deadError("resume", err)
	}
	c.ticket, c.rs = res.ticket, res.rs
	s.link.sampleRTT(res.rtt)
	return nil
}

// resume answers a resume hello: its ticket must open, its binder must prove the
// ticket's secret, and the ticket must be the session's current one.
func (a *answerer) resume(body *clientHelloBody, bound []byte, pub kem.PublicKey) (handshakeResult, error) {
	var res handshakeResult
	key, err := ticketKey(a.cfg.Identity)
	if err != nil {
		return res, fmt.Errorf("session: %w", err)
	}
	t, err := openTicket(key, body.ticket)
	if err != nil {
		return res, helloError("ticket", a.hello, err)
	}
	want, err := binder(&t.rs, a.hello[:helloPrefixSize], bound)
	if err != nil {
		return res, fmt.Errorf("session: %w", err)
	}
	if !hmac.Equal(want, body.binder) {
		return res, helloError("ticket", a.hello, fmt.Errorf("%w: resume hello binder does not verify", errMalformed))
	}
	sess := a.cfg.Sessions.get(t.id)
	if sess == nil || sess.ending.Load() {
		return res, a.reject(t.id, "the gateway has no such session")
	}
	if _, written := sess.link.offsets(); body.received > written {
		err := fmt.Errorf("%w: client says it received %d bytes of %d sent", errViolation, body.received, written)
		sess.end(err, false)
		return res, a.reject(t.id, err.Error())
	}
	ct, shared, err := kemScheme.Encapsulate(pub)
	if err != nil {
		return res, helloError("malformed", a.hello, fmt.Errorf("%w: encapsulate: %w", errMalformed, err))
	}
	if res.rs, err = resumptionSecret(shared, t.rs[:], a.resumptionSalt()); err != nil {
		return res, fmt.Errorf("session: %w", err)
	}
	// The new ticket is good from before it is sent: if this carrier dies before the
	// client has used it, the client may hold either ticket.
	confirm, ok := sess.srv.tickets.redeem(&t.rs, &res.rs)
	if !ok {
		return res, helloError("ticket", a.hello, fmt.Errorf("ticket of session %x already used", t.id[:4]))
	}
	sh := serverHelloBody{kind: kindResume, id: t.id, ciphertext: ct}
	if sh.ticket, err = issueTicket(a.cfg.Identity, t.id, res.rs, a.now); err != nil {
		return res, fmt.Errorf("session: %w", err)
	}
	sh.received, _ = sess.link.offsets()
	res.confirm = confirm
	if res.keys, err = a.answer(&sh, shared, t.rs[:]); err != nil {
		return res, err
	}
	res.id, res.resumed, res.peerReceived = t.id, sess, body.received
	return res, nil
}

// reject tells an authentic resume hello, signed, that its session is gone.
func (a *answerer) reject(id ID, why string) error {
	sh := serverHelloBody{kind: kindRejected, id: id, ciphertext: make([]byte, kemCiphertextSize)}
	if _, err := a.answer(&sh, nil, nil); err != nil {
		return err
	}
	return fmt.Errorf("session: resume session %x: %s: %w", id[:4], why, ErrResumeRejected)
}

// reattach makes conn the carrier of a gateway session that a resume hello named.
func (s *Session) reattach(conn net.Conn, res *handshakeResult, cfg *ServerConfig) error {
	rc, err := recordConnFor(conn, res.keys, true)
	if err != nil {
		return err
	}
	s.srv.stopGrace()
	if err := s.link.attach(rc, res.peerReceived, res.confirm); err != nil {
		return s.deadError("resume", err)
	}
	if s.srv.store != nil {
		s.srv.mu.Lock()
		s.srv.state.Endpoint, s.srv.state.Resumed = cfg.Endpoint, nowFunc(cfg.Now)
		st := s.srv.state
		s.srv.mu.Unlock()
		// Best effort: the session lives here whatever the store says, and a store
		// that failed keeps the previous endpoint, which is only stale.
		ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
		s.srv.store.Put(ctx, st)
		cancel()
	}
	return nil
}

func (st *serverState) startGrace(l *link, expire func()) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.graceTimer != nil {
		st.graceTimer.Stop()
	}
	var t *time.Timer
	t = time.AfterFunc(st.grace, func() {
		st.mu.Lock()
		current := st.graceTimer == t
		st.mu.Unlock()
		if current && !l.attached() {
			expire()
		}
	})
	st.graceTimer = t
}

func (st *serverState) stopGrace() {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.graceTimer != nil {
		st.graceTimer.Stop()
		st.graceTimer = nil
	}
}
