package session

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"time"
)

// Client opens a session over conn, a carrier just dialled for cfg.Endpoint. It sends
// the client hello and verifies the gateway's answer against cfg.GatewayKey or one of
// cfg.NextGatewayKeys. On success the session owns conn; on failure the caller still
// does.
func Client(ctx context.Context, conn net.Conn, cfg *ClientConfig) (*Session, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	res, err := runClientHandshake(ctx, conn, cfg, nil)
	if err != nil {
		return nil, err
	}
	return newSession(conn, res, sessionOptions{buffer: cfg.ResumeBuffer, gatewayKeys: cfg.keys(), idlePing: cfg.IdlePing})
}

// runClientHandshake runs the client's side of a new or (with r) resume handshake
// within ctx.
func runClientHandshake(ctx context.Context, conn net.Conn, cfg *ClientConfig, r *resumeRequest) (handshakeResult, error) {
	if err := ctx.Err(); err != nil {
		return handshakeResult{}, fmt.Errorf("%w: before sending the hello: %w", ErrNoAnswer, err)
	}
	release := bindContext(ctx, conn)
	res, err := clientHandshake(conn, cfg, r)
	release()
	if err != nil {
		if cerr := contextError(ctx); cerr != nil && errors.Is(err, ErrNoAnswer) {
			err = fmt.Errorf("%w (%w)", err, cerr)
		}
		return res, err
	}
	return res, nil
}

// resumeRequest is what a client resumes with: its ticket and secret, and how much
// of the gateway's stream it has.
type resumeRequest struct {
	id       ID
	ticket   []byte
	rs       [32]byte
	received uint64
}

func clientHandshake(conn net.Conn, cfg *ClientConfig, r *resumeRequest) (handshakeResult, error) {
	var res handshakeResult
	pubBytes, priv, err := kemScheme.keyPair()
	if err != nil {
		return res, fmt.Errorf("session: %w", err)
	}
	endpoint := appendEndpoint(nil, cfg.Endpoint)
	keys := cfg.keys()
	body := clientHelloBody{kind: kindNew, publicKey: pubBytes,
		ext: helloExtensions{aeads: cfg.aeads.offer(), identity: cfg.identityOffer(keys)}}
	psk := cfg.Secret[:]
	var rs *[32]byte
	if r != nil {
		body.kind, body.received, body.ticket = kindResume, r.received, r.ticket
		psk, rs = r.rs[:], &r.rs
	}
	hello, hk, err := buildClientHello(cfg, endpoint, &body, rs)
	if err != nil {
		return res, err
	}
	start := time.Now()
	if _, err := conn.Write(hello); err != nil {
		return res, noAnswer("send client hello", err)
	}

	var hdr [serverPrefixSize]byte
	if _, err := io.ReadFull(conn, hdr[:]); err != nil {
		return res, noAnswer("read server hello", err)
	}
	aead, mask, err := hk.serverHelloKeys(hdr[:serverRandomSize])
	if err != nil {
		return res, fmt.Errorf("session: %w", err)
	}
	n := unmaskLen(hdr[serverRandomSize:], mask)
	if n < serverHelloFixed+tagSize || n > maxHelloBody {
		return res, noAnswer("read server hello", fmt.Errorf("%w: sealed body of %d bytes", errMalformed, n))
	}
	sealed := make([]byte, serverRandomSize+n)
	copy(sealed, hdr[:serverRandomSize])
	if _, err := io.ReadFull(conn, sealed[serverRandomSize:]); err != nil {
		return res, noAnswer(fmt.Sprintf("read server hello body of %d bytes", n), err)
	}
	res.rtt = time.Since(start)
	// Opened in place after S, so that S || plain[:signedLen] is what the transcript
	// covers.
	plain, err := aead.Open(sealed[serverRandomSize:serverRandomSize], zeroNonce[:], sealed[serverRandomSize:], hdr[:])
	if err != nil {
		return res, noAnswer("open server hello", fmt.Errorf("%w: %w", errMalformed, err))
	}
	sb, signedLen, err := parseServerHelloBody(plain)
	if err != nil {
		return res, noAnswer("parse server hello", err)
	}
	th, signer := verifyServerHello(keys, endpoint, hello, concat(sealed[:serverRandomSize+signedLen], sb.extRaw), sb.signature)
	if signer == nil {
		return res, fmt.Errorf("%w: server hello signature does not verify with the pinned key (nor a next one it accepts)", ErrAuth)
	}
	chosen, err := acceptedAEAD(body.ext.aeads, sb.ext)
	if err != nil {
		return res, fmt.Errorf("session: %w", err)
	}
	// Only now, under the signature, is the announced key worth anything.
	if !cfg.legacyIdentity {
		if res.next, err = announcedKey(sb.ext.identity); err != nil {
			return res, fmt.Errorf("session: %w", err)
		}
	}
	if err := checkAnswer(body.kind, &sb, r); err != nil {
		return res, err
	}
	shared, err := kemScheme.Decapsulate(priv, sb.ciphertext)
	if err != nil {
		return res, fmt.Errorf("session: decapsulate: %w", err)
	}
	if res.keys, err = deriveSessionKeys(shared, psk, th); err != nil {
		return res, fmt.Errorf("session: %w", err)
	}
	res.keys.aead = chosen
	if res.rs, err = resumptionSecret(shared, psk, transcriptHash(signer, endpoint, hello, nil)); err != nil {
		return res, fmt.Errorf("session: %w", err)
	}
	res.id, res.peerReceived = sb.id, sb.received
	if len(sb.ticket) > 0 {
		res.ticket = clone(sb.ticket)
	}
	return res, nil
}

// checkAnswer checks that a signed server hello answers the hello that was sent.
func checkAnswer(sent byte, sb *serverHelloBody, r *resumeRequest) error {
	switch {
	case sent == kindResume && sb.kind == kindRejected:
		return fmt.Errorf("session: resume session %x: %w", r.id[:4], ErrResumeRejected)
	case sent == kindResume && sb.kind == kindResume && sb.id != r.id:
		return fmt.Errorf("session: %w: gateway resumed session %x, want %x", errMalformed, sb.id[:4], r.id[:4])
	case sent != sb.kind:
		return fmt.Errorf("session: %w: server hello of kind %d answers a hello of kind %d", errMalformed, sb.kind, sent)
	}
	return nil
}

// buildClientHello lays out R, MARK, the masked length and the sealed body; the
// body's timestamp is set here. A resume hello (body.kind) gets its binder under rs.
func buildClientHello(cfg *ClientConfig, endpoint []byte, body *clientHelloBody, rs *[32]byte) ([]byte, helloKeys, error) {
	ts := unixSeconds(nowFunc(cfg.Now))
	padding := mrand.IntN(maxHelloPadding + 1)
	bodyLen := body.size() + padding + tagSize

	hello := make([]byte, helloPrefixSize, helloPrefixSize+bodyLen)
	random := hello[:randomSize]
	rand.Read(random)
	m, err := newMarker(&cfg.Secret)
	if err != nil {
		return nil, helloKeys{}, fmt.Errorf("session: %w", err)
	}
	mark := m.mark(random, slotOf(ts), endpoint)
	copy(hello[randomSize:], mark[:])
	hk, err := deriveHelloKeys(&cfg.Secret, random, mark[:])
	if err != nil {
		return nil, helloKeys{}, fmt.Errorf("session: %w", err)
	}
	ml := maskedLen(bodyLen, hk.clientMask)
	copy(hello[randomSize+markSize:], ml[:])

	body.timestamp = ts
	if body.kind == kindResume {
		bound := body.appendBound(nil)
		if body.binder, err = binder(rs, hello[:helloPrefixSize], bound); err != nil {
			return nil, helloKeys{}, fmt.Errorf("session: %w", err)
		}
	}
	hello = body.marshal(hello, padding)
	prefix := hello[:helloPrefixSize]
	hello = hk.client.Seal(prefix, zeroNonce[:], hello[helloPrefixSize:], prefix)
	return hello, hk, nil
}

func noAnswer(what string, err error) error {
	return fmt.Errorf("%w: %s: %w", ErrNoAnswer, what, err)
}
