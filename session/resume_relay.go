package session

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
)

// Relayer hands a resume hello for a session this gateway does not hold to the edge of
// its fleet that does. The session, its unacknowledged bytes and its backend
// connections stay where they are; the carrier is joined to that edge, which answers
// the hello and from then on serves the session over it.
type Relayer interface {
	// Relay passes h to the edge holding session id and, once that edge has
	// answered, joins carrier to it: from then on the carrier is the Relayer's. An
	// error wrapping ErrNotFound means no edge holds the session, or the one that
	// did is gone: the gateway tells the client so, signed, and it opens a new
	// session at once. Any other error leaves the hello unanswered (the answer
	// garbage gets) and carrier the caller's.
	Relay(ctx context.Context, id ID, h *Handoff, carrier net.Conn) error
}

// Handoff is what the edge holding a session needs to answer a resume hello that
// another edge received and checked (mark, freshness, the fleet's replay cache, the
// ticket and its binder): the hello, the endpoint it was sent to, and the hello keys
// HK it was sealed with, which answer this one hello and nothing else; never the
// bridge secret they came from.
//
//	handoff = version (1) || HK (68) || BE16(len(EP)) || EP || BE16(len(hello)) || hello
//
// EP is the endpoint's encoding in the mark (docs/protocol.md, "Endpoint binding").
type Handoff struct {
	Endpoint Endpoint
	keys     [helloKeySize]byte
	hello    []byte
}

const (
	handoffVersion = 1
	// MaxHandoffSize bounds an encoded Handoff: the largest hello, the keys, and an
	// endpoint of at most maxHandoffEndpoint bytes.
	MaxHandoffSize     = 1 + helloKeySize + 2 + maxHandoffEndpoint + 2 + helloPrefixSize + maxHelloBody
	maxHandoffEndpoint = 1024
)

// MarshalBinary encodes h for the inter-edge link.
func (h *Handoff) MarshalBinary() ([]byte, error) {
	ep := appendEndpoint(nil, h.Endpoint)
	if len(ep) > maxHandoffEndpoint {
		return nil, fmt.Errorf("session: handoff: endpoint of %d bytes", len(ep))
	}
	out := make([]byte, 0, 1+helloKeySize+4+len(ep)+len(h.hello))
	out = append(out, handoffVersion)
	out = append(out, h.keys[:]...)
	out = binary.BigEndian.AppendUint16(out, uint16(len(ep)))
	out = append(out, ep...)
	out = binary.BigEndian.AppendUint16(out, uint16(len(h.hello)))
	return append(out, h.hello...), nil
}

// ParseHandoff decodes a Handoff that came over the inter-edge link. It checks the
// layout only; ServeHandoff checks that the keys open the hello.
func ParseHandoff(b []byte) (*Handoff, error) {
	bad := func(format string, args ...any) (*Handoff, error) {
		return nil, fmt.Errorf("session: handoff: %w: %s", errMalformed, fmt.Sprintf(format, args...))
	}
	if len(b) < 1+helloKeySize+2 || len(b) > MaxHandoffSize {
		return bad("%d bytes", len(b))
	}
	if b[0] != handoffVersion {
		return bad("version %d", b[0])
	}
	h := &Handoff{}
	off := 1 + copy(h.keys[:], b[1:])
	n := int(binary.BigEndian.Uint16(b[off:]))
	off += 2
	if n > maxHandoffEndpoint || len(b)-off < n+2 {
		return bad("endpoint of %d bytes", n)
	}
	ep, err := parseEndpoint(b[off : off+n])
	if err != nil {
		return bad("%v", err)
	}
	h.Endpoint = ep
	off += n
	n = int(binary.BigEndian.Uint16(b[off:]))
	off += 2
	if n != len(b)-off || n < helloPrefixSize+clientHelloFixed+resumeHelloFixed+tagSize || n > helloPrefixSize+maxHelloBody {
		return bad("hello of %d bytes in %d", n, len(b)-off)
	}
	h.hello = clone(b[off:])
	return h, nil
}

// parseEndpoint reads appendEndpoint's encoding, whole.
func parseEndpoint(b []byte) (Endpoint, error) {
	var f [3]string
	for i := range f {
		if len(b) < 2 || len(b)-2 < int(binary.BigEndian.Uint16(b)) {
			return Endpoint{}, errors.New("endpoint field overruns")
		}
		n := int(binary.BigEndian.Uint16(b))
		f[i], b = string(b[2:2+n]), b[2+n:]
	}
	if len(b) != 0 {
		return Endpoint{}, fmt.Errorf("%d bytes after the endpoint", len(b))
	}
	return Endpoint{Transport: f[0], Address: f[1], ServerName: f[2]}, nil
}

// relay hands a resume hello for a session this gateway does not hold to cfg.Relay.
func (a *answerer) relay(ctx context.Context, id ID) (handshakeResult, error) {
	var res handshakeResult
	h := &Handoff{Endpoint: a.cfg.Endpoint, keys: a.hk.material, hello: a.hello}
	err := a.cfg.Relay.Relay(ctx, id, h, a.conn)
	switch {
	case errors.Is(err, ErrNotFound):
		return res, a.reject(id, err.Error())
	case err != nil:
		return res, helloError("relay", a.hello, err)
	}
	res.id, res.relayed = id, true
	return res, nil
}

// ServeHandoff answers, on the edge holding the session, a resume hello that another
// edge relayed with h, over conn: the inter-edge link's connection, which carries the
// client's carrier from now on. cfg is the gateway's, as for Server; its Endpoint is
// replaced by the one the hello was sent to. The hello's mark, freshness and replay
// were checked by the edge that received it, which the link authenticated.
//
// A resumed session owns conn. If the session is gone, the client is told so and the
// error wraps ErrResumeRejected; on any other error nothing was written. Either way
// the caller still owns conn.
func ServeHandoff(ctx context.Context, conn net.Conn, h *Handoff, cfg *ServerConfig) (*Session, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.Sessions == nil {
		return nil, errors.New("session: handoff: this gateway keeps no sessions")
	}
	local := *cfg
	local.Endpoint, local.Relay = h.Endpoint, nil // a relayed hello goes no further
	release := bindContext(ctx, conn)
	res, err := answerHandoff(ctx, conn, h, &local)
	release()
	if err != nil {
		return nil, err
	}
	if err := res.resumed.reattach(conn, &res, &local); err != nil {
		return nil, err
	}
	return res.resumed, nil
}

func answerHandoff(ctx context.Context, conn net.Conn, h *Handoff, cfg *ServerConfig) (handshakeResult, error) {
	var res handshakeResult
	hk, err := helloKeysFrom(h.keys[:])
	if err != nil {
		return res, fmt.Errorf("session: %w", err)
	}
	hello := h.hello
	plain, err := hk.client.Open(nil, zeroNonce[:], hello[helloPrefixSize:], hello[:helloPrefixSize])
	if err != nil {
		return res, helloError("malformed", nil, fmt.Errorf("%w: handoff: the keys do not open the hello", errMalformed))
	}
	body, boundLen, err := parseClientHelloBody(plain)
	if err == nil && body.kind != kindResume {
		err = fmt.Errorf("%w: handoff of a hello of kind %d", errMalformed, body.kind)
	}
	if err != nil {
		return res, helloError("malformed", nil, err)
	}
	now := nowFunc(cfg.Now)
	if ts, window := body.timestamp, uint64(freshness.Seconds()); ts+window < unixSeconds(now) || ts > unixSeconds(now)+window {
		return res, helloError("stale", nil, fmt.Errorf("handoff of a hello stamped %d, gateway time %d", ts, unixSeconds(now)))
	}
	pub, err := kemScheme.UnmarshalBinaryPublicKey(body.publicKey)
	if err != nil {
		return res, helloError("malformed", nil, fmt.Errorf("%w: hybrid public key: %w", errMalformed, err))
	}
	a, err := newAnswerer(conn, cfg, hk, hello, appendEndpoint(nil, cfg.Endpoint), now, &body)
	if err != nil {
		return res, helloError("malformed", nil, err)
	}
	return a.resume(ctx, &body, plain[:boundLen], pub)
}
