package session

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"time"
)

// Outcome is what Server made of a valid client hello.
type Outcome uint8

const (
	// Opened: a new session. The caller serves its streams (HandleStreams, or
	// AcceptStream in a loop) until it ends.
	Opened Outcome = iota + 1
	// Resumed: a resume hello re-attached a live session, which now owns the
	// carrier. Its streams are already served by whoever serves them since it opened.
	Resumed
	// Relayed: a resume hello for a session another edge of the fleet holds went to
	// that edge, which answered it; the carrier is the Relayer's (ServerConfig.Relay)
	// from now on, and there is no session here.
	Relayed
)

func (o Outcome) String() string {
	switch o {
	case Opened:
		return "opened"
	case Resumed:
		return "resumed"
	case Relayed:
		return "relayed"
	}
	return fmt.Sprintf("Outcome(%d)", uint8(o))
}

// Server runs the gateway side of the handshake on conn, a freshly accepted carrier.
// It reads no more than the client hello, and writes nothing unless the hello is
// valid: for anything else it returns a *HelloError holding every byte it read, and
// the caller still owns conn. When ctx ends first, the reason is "timeout".
//
// A valid hello gives a session that owns conn: a new one (Opened), or the live one in
// cfg.Sessions that a resume hello named (Resumed). A resume hello for a session that
// another edge holds goes there through cfg.Relay, with conn (Relayed, no session). If
// the session is gone, the client is told so and the error wraps ErrResumeRejected;
// the caller still owns conn.
func Server(ctx context.Context, conn net.Conn, cfg *ServerConfig) (*Session, Outcome, error) {
	if err := cfg.check(); err != nil {
		return nil, 0, err
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, helloError("timeout", nil, err)
	}
	release := bindContext(ctx, conn)
	res, err := serverHandshake(ctx, conn, cfg)
	release()
	if err != nil {
		var he *HelloError
		if errors.As(err, &he) && he.Reason == "short" && contextError(ctx) != nil {
			he.Reason, he.Err = "timeout", fmt.Errorf("%w (%w)", he.Err, contextError(ctx))
		}
		return nil, 0, err
	}
	if res.relayed {
		return nil, Relayed, nil
	}
	if res.resumed != nil {
		if err := res.resumed.reattach(conn, &res, cfg); err != nil {
			return nil, 0, err
		}
		return res.resumed, Resumed, nil
	}
	maxStreams := cfg.MaxStreams
	if maxStreams <= 0 {
		maxStreams = DefaultMaxStreams
	}
	grace := cfg.ResumeGrace
	if grace <= 0 {
		grace = DefaultResumeGrace
	}
	sess, err := newSession(conn, res, sessionOptions{
		server:     true,
		maxStreams: maxStreams,
		buffer:     cfg.ResumeBuffer,
		store:      cfg.Store,
		registry:   cfg.Sessions,
		grace:      grace,
		budget:     cfg.Budget,
		openRate:   cfg.StreamOpenRate,
		openBurst:  cfg.StreamOpenBurst,
		now:        cfg.Now,
	})
	if err != nil {
		return nil, 0, err
	}
	return sess, Opened, nil
}

// DefaultMaxStreams bounds a session's open streams when a config says 0.
const DefaultMaxStreams = 256

// serverHandshake reads the client hello, checks it from the cheapest test to the
// most expensive, and answers only a hello that passes them all. Every failure to
// open a session is a *HelloError and leaves nothing written on conn, except the
// signed rejection of a valid resume hello whose session is gone.
func serverHandshake(ctx context.Context, conn net.Conn, cfg *ServerConfig) (handshakeResult, error) {
	var res handshakeResult
	now := nowFunc(cfg.Now)
	endpoint := appendEndpoint(nil, cfg.Endpoint)

	var prefix [helloPrefixSize]byte
	if n, err := io.ReadFull(conn, prefix[:]); err != nil {
		return res, helloError(readFailure(err), clone(prefix[:n]), err)
	}
	random, mark := prefix[:randomSize], prefix[randomSize:randomSize+markSize]
	secret, slot, err := findSecret(cfg.Marks, cfg.Secrets, random, mark, endpoint, unixSeconds(now))
	if err != nil {
		return res, helloError("mark", clone(prefix[:]), err)
	}
	hk, err := deriveHelloKeys(secret, random, mark)
	if err != nil {
		return res, fmt.Errorf("session: %w", err)
	}
	n := unmaskLen(prefix[randomSize+markSize:], hk.clientMask)
	if n < clientHelloFixed+tagSize || n > maxHelloBody {
		return res, helloError("malformed", clone(prefix[:]), fmt.Errorf("%w: sealed body of %d bytes", errMalformed, n))
	}

	hello := make([]byte, helloPrefixSize+n)
	copy(hello, prefix[:])
	if m, err := io.ReadFull(conn, hello[helloPrefixSize:]); err != nil {
		return res, helloError(readFailure(err), hello[:helloPrefixSize+m], err)
	}
	plain, err := hk.client.Open(nil, zeroNonce[:], hello[helloPrefixSize:], hello[:helloPrefixSize])
	if err != nil {
		return res, helloError("malformed", hello, fmt.Errorf("%w: open client hello: %w", errMalformed, err))
	}
	body, boundLen, err := parseClientHelloBody(plain)
	if errors.Is(err, errVersion) {
		// Another version's client: it gets what garbage gets, and the operator a count.
		return res, helloError("version", hello, err)
	}
	if err != nil {
		return res, helloError("malformed", hello, err)
	}
	if err := checkFresh(body.timestamp, slot, unixSeconds(now)); err != nil {
		return res, helloError("stale", hello, err)
	}
	// Only now, with a hello that is authentic and fresh, does it enter the cache: a
	// censor that copies the first bytes of a real hello cannot poison its entry.
	seen, err := cfg.Replay.CheckAndAdd(ctx, replayKey(random, mark), replayExpiry(body.timestamp))
	if err != nil {
		// A hello that cannot be checked may be a replay: it gets what garbage gets.
		return res, helloError("unchecked", hello, err)
	}
	if seen {
		return res, helloError("replay", hello, nil)
	}
	pub, err := kemScheme.UnmarshalBinaryPublicKey(body.publicKey)
	if err != nil {
		return res, helloError("malformed", hello, fmt.Errorf("%w: hybrid public key: %w", errMalformed, err))
	}
	a, err := newAnswerer(conn, cfg, hk, hello, endpoint, now, &body)
	if err != nil {
		return res, helloError("malformed", hello, err)
	}
	if body.kind == kindResume {
		return a.resume(ctx, &body, plain[:boundLen], pub)
	}

	ct, shared, err := kemScheme.Encapsulate(pub)
	if err != nil {
		return res, helloError("malformed", hello, fmt.Errorf("%w: encapsulate: %w", errMalformed, err))
	}
	sh := serverHelloBody{kind: kindNew, ciphertext: ct}
	rand.Read(sh.id[:])
	if res.rs, err = resumptionSecret(shared, secret[:], a.resumptionSalt()); err != nil {
		return res, fmt.Errorf("session: %w", err)
	}
	if cfg.Sessions != nil {
		if sh.ticket, err = issueTicket(cfg.ticketIdentity(now), sh.id, res.rs, now); err != nil {
			return res, fmt.Errorf("session: %w", err)
		}
	}
	res.id = sh.id
	res.state = State{ID: sh.id, Created: now, Endpoint: cfg.Endpoint}
	if cfg.Store != nil {
		if err := cfg.Store.Put(ctx, res.state); err != nil {
			return res, fmt.Errorf("session: store new session: %w", err)
		}
	}
	if res.keys, err = a.answer(&sh, shared, secret[:]); err != nil {
		if cfg.Store != nil {
			cfg.Store.Delete(context.WithoutCancel(ctx), sh.id)
		}
		return res, err
	}
	return res, nil
}

// answerer writes the server hello that answers one valid client hello.
type answerer struct {
	conn     net.Conn
	cfg      *ServerConfig
	hk       helloKeys
	hello    []byte
	endpoint []byte
	now      time.Time
	offer    []aeadID // the client's AEAD extension; nil when it sent none
	// signer is the identity that signs the answer; announce the next identity,
	// when the answer is signed by the current one during a rotation's overlap.
	signer   ed25519.PrivateKey
	announce ed25519.PublicKey
}

// newAnswerer is the answerer of a client hello whose body checked out, here or at
// the edge that relayed it: it signs with the identity the client's offer names, and
// announces the next identity when that is the current one during an overlap.
func newAnswerer(conn net.Conn, cfg *ServerConfig, hk helloKeys, hello, endpoint []byte, now time.Time, body *clientHelloBody) (*answerer, error) {
	if err := checkIdentityOffer(body.ext.identity); err != nil {
		return nil, err
	}
	current, next := cfg.identities(now)
	a := &answerer{conn: conn, cfg: cfg, hk: hk, hello: hello, endpoint: endpoint, now: now, offer: body.ext.aeads,
		signer: cfg.chooseSigner(current, next, body.ext.identity)}
	if next != nil && a.signer.Equal(current) {
		a.announce = next.Public().(ed25519.PublicKey)
	}
	return a, nil
}

func (a *answerer) resumptionSalt() []byte {
	return transcriptHash(a.signer.Public().(ed25519.PublicKey), a.endpoint, a.hello, nil)
}

// answer signs sh, sends it, and derives the carrier's keys from the KEM secret and
// the pre-shared key (none for a rejection, which has no keys).
func (a *answerer) answer(sh *serverHelloBody, shared, psk []byte) (sessionKeys, error) {
	serverRandom := make([]byte, serverRandomSize)
	rand.Read(serverRandom) // S: this answer's own, so no two answers share a key
	aead := aeadChaCha20Poly1305
	if shared != nil && a.offer != nil && a.cfg.aeads.answers() {
		aead = chooseAEAD(a.offer, a.cfg.aeads.list())
		sh.ext.aeads = []aeadID{aead}
	}
	if a.announce != nil {
		sh.ext.identity = a.announce
	}
	signed := append(sh.appendSigned(clone(serverRandom)), sh.ext.marshal()...)
	th := transcriptHash(a.signer.Public().(ed25519.PublicKey), a.endpoint, a.hello, signed)
	sh.signature = ed25519.Sign(a.signer, signatureMessage(th))
	var keys sessionKeys
	if shared != nil {
		var err error
		if keys, err = deriveSessionKeys(shared, psk, th); err != nil {
			return keys, fmt.Errorf("session: %w", err)
		}
		keys.aead = aead
	}
	sealed, err := sealServerHello(serverRandom, sh, &a.hk)
	if err != nil {
		return keys, fmt.Errorf("session: %w", err)
	}
	if _, err := a.conn.Write(sealed); err != nil {
		return keys, fmt.Errorf("session: send server hello: %w", err)
	}
	return keys, nil
}

// sealServerHello lays out S, the masked length and the sealed body, under the key
// that S and the client hello give.
func sealServerHello(serverRandom []byte, sh *serverHelloBody, hk *helloKeys) ([]byte, error) {
	aead, mask, err := hk.serverHelloKeys(serverRandom)
	if err != nil {
		return nil, err
	}
	padding := mrand.IntN(maxHelloPadding + 1)
	bodyLen := serverHelloFixed + len(sh.ticket) + len(sh.ext.marshal()) + padding + tagSize
	out := make([]byte, serverPrefixSize, serverPrefixSize+bodyLen)
	copy(out, serverRandom)
	ml := maskedLen(bodyLen, mask)
	copy(out[serverRandomSize:], ml[:])
	out = sh.marshal(out, padding)
	prefix := out[:serverPrefixSize]
	return aead.Seal(prefix, zeroNonce[:], out[serverPrefixSize:], prefix), nil
}

// findSecret finds the bridge secret and time slot under which mark is valid. It tries
// each secret at each slot overlapping now ± freshness: a few HMACs, no public-key work.
func findSecret(marks *Marks, secrets []Secret, random, mark, endpoint []byte, now uint64) (*Secret, uint64, error) {
	var buf [8]uint64
	slots := slotsByDistance(buf[:0], now)
	for i := range secrets {
		m, err := marks.marker(&secrets[i])
		if err != nil {
			return nil, 0, err
		}
		for _, slot := range slots {
			want := m.mark(random, slot, endpoint)
			if hmac.Equal(want[:], mark) {
				return &secrets[i], slot, nil
			}
		}
	}
	return nil, 0, fmt.Errorf("no bridge secret and time slot give this mark for this endpoint")
}

// slotsByDistance appends the slots that overlap now ± freshness: now's own first, then
// the others outwards from it, so a client whose clock is right costs one mark.
func slotsByDistance(slots []uint64, now uint64) []uint64 {
	window := uint64(freshness / time.Second)
	first, cur, last := slotOf(now-min(now, window)), slotOf(now), slotOf(now+window)
	for d := uint64(0); cur+d <= last || cur >= first+d; d++ {
		if cur+d <= last {
			slots = append(slots, cur+d)
		}
		if d > 0 && cur >= first+d {
			slots = append(slots, cur-d)
		}
	}
	return slots
}

// checkFresh accepts a timestamp within freshness of now, in the slot its mark used.
func checkFresh(ts, slot, now uint64) error {
	window := uint64(freshness / time.Second)
	if ts+window < now || ts > now+window {
		return fmt.Errorf("client time %d is more than %v from gateway time %d", ts, freshness, now)
	}
	if slotOf(ts) != slot {
		return fmt.Errorf("client time %d is not in the mark's time slot %d", ts, slot)
	}
	return nil
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }
