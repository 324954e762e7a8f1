package session

import (
	"context"
	"crypto/ed25519"
	"time"
)

// SecretSize is the length of a bridge secret.
const SecretSize = 32

// Secret is a bridge secret: shared by every user of a bridge line, it grants access
// to the gateway. The gateway cannot tell users apart by it.
type Secret [SecretSize]byte

// Endpoint is what a client hello is bound to: the bridge line's transport, address and
// TLS server name. A hello sent to one endpoint fails at every other.
type Endpoint struct {
	Transport  string
	Address    string
	ServerName string
}

// ID identifies a session, for the session store and (later) resumption tickets.
type ID [16]byte

// ClientConfig is the client side of a session.
type ClientConfig struct {
	// GatewayKey is the gateway's pinned Ed25519 identity from the bridge line.
	GatewayKey ed25519.PublicKey
	// NextGatewayKeys are further identities that authenticate the gateway: a
	// rotation's next key, from the bridge line's next-key= or announced in an
	// earlier session (Session.NextGatewayKey).
	NextGatewayKeys []ed25519.PublicKey
	// Secret is the bridge secret from the bridge line.
	Secret Secret
	// Endpoint is the bridge line this carrier was dialled for.
	Endpoint Endpoint
	// ResumeBuffer bounds the bytes written and not yet acknowledged by the gateway;
	// writes wait when it is full. 0 means DefaultResumeBuffer. Resume ignores it.
	ResumeBuffer int
	// IdlePing is how often the session pings the gateway while nothing else is
	// outstanding: how long a carrier cut silently goes unnoticed on an idle session.
	// 0 means DefaultIdlePing; SetIdlePing changes it later. Resume ignores it.
	IdlePing time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time

	// aeads replaces what this machine's hardware makes the record AEADs, for tests
	// of the negotiation (handshake_ext.go).
	aeads aeadPrefs
	// legacyIdentity makes the client one from before the identity extension, for
	// tests of the two together (handshake_rotation.go): it lists no keys and reads
	// no announcement.
	legacyIdentity bool
}

// DefaultIdlePing is the client's idle keepalive when its config says 0.
const DefaultIdlePing = 15 * time.Second

// GatewayIdlePing is the gateway's idle keepalive: it pings an idle carrier only when
// it has heard nothing on it for this long. The client's own pings (every 5 s in the
// foreground, 60 s in the background: client.IdlePreset) keep the carrier alive, so
// the gateway's never wake a phone's radio a second time; the carrier of a client
// that vanished is found dead this long plus carrierTimeout (30 s) after its last
// word, and its session then waits out the resume grace.
const GatewayIdlePing = 2 * time.Minute

// ServerConfig is the gateway side of a session.
type ServerConfig struct {
	// Identity is the gateway's long-term signing key.
	Identity ed25519.PrivateKey
	// Rotation, when set, replaces Identity by its next key at its time, after an
	// overlap in which clients learn the next key; nil when none is under way.
	Rotation *Rotation
	// Secrets are the bridge secrets accepted (several, for rotation).
	Secrets []Secret
	// Marks keeps the secrets' keyed mark HMACs across hellos; a gateway shares one
	// among all its configs. Nil derives them for each hello.
	Marks *Marks
	// Endpoint is the listener's public endpoint as printed in its bridge lines.
	Endpoint Endpoint
	// Replay remembers accepted hellos; required.
	Replay ReplayCache
	// Store keeps established sessions' state; nil means no store.
	Store Store
	// Sessions holds this process's live sessions for resumption. Nil turns
	// resumption off: no tickets are issued, a session ends with its carrier, and a
	// resume hello is told its session is gone.
	Sessions *Registry
	// Relay hands a resume hello for a session this gateway does not hold to the
	// edge of its fleet that holds it; nil means such a hello is told its session is
	// gone.
	Relay Relayer
	// ResumeGrace is how long a session whose carrier died waits for a resume before
	// it ends; 0 means DefaultResumeGrace.
	ResumeGrace time.Duration
	// ResumeBuffer bounds a session's bytes written and not yet acknowledged by the
	// client; writes wait when it is full. 0 means DefaultResumeBuffer.
	ResumeBuffer int
	// MaxStreams limits concurrently open streams per session; 0 means
	// DefaultMaxStreams.
	MaxStreams int
	// StreamOpenBurst and StreamOpenRate limit how fast a session opens streams:
	// StreamOpenBurst at once, then StreamOpenRate a second. An open beyond is reset,
	// which the client sees as ErrStreamLimit. 0 means DefaultStreamOpenBurst and
	// DefaultStreamOpenRate.
	StreamOpenBurst int
	StreamOpenRate  float64
	// Budget bounds the bytes buffered by all the sessions that share it (see
	// Budget); nil leaves each session bounded only by its own limits.
	Budget *Budget
	// Now returns the current time; nil means time.Now.
	Now func() time.Time

	// aeads replaces what this machine's hardware makes the record AEADs, for tests
	// of the negotiation (handshake_ext.go).
	aeads aeadPrefs
	// legacyIdentity makes the gateway one from before the identity extension, for
	// tests: it signs with Identity whatever the client lists, and announces nothing.
	legacyIdentity bool
}

// ReplayCache remembers accepted hellos for as long as they could be fresh, so that
// the gateway answers each at most once. docs/protocol.md ("Replay cache") holds the
// contract an implementation keeps: in memory, in a journal, or in a shared store.
type ReplayCache interface {
	// CheckAndAdd records key until expiry and reports whether it was already there,
	// unexpired. Of concurrent calls with one key, at most one reports it unseen. An
	// error means the key could not be checked or recorded (a store that cannot be
	// reached, a journal that cannot be written, ctx ended): the gateway then rejects
	// the hello as it rejects garbage, reason "unchecked".
	CheckAndAdd(ctx context.Context, key [32]byte, expiry time.Time) (seen bool, err error)
}

// State is what a gateway keeps about an established session.
type State struct {
	ID      ID
	Created time.Time
	// Endpoint is the listener the session's current carrier came in on.
	Endpoint Endpoint
	// Resumed is when the session last moved to a new carrier; zero if never.
	Resumed time.Time
}

// Store keeps session state behind an interface. In a fleet it is the directory that
// tells every edge which one holds a session: the session's unacknowledged bytes and
// its streams' backend connections never leave that edge, so a resume reaching
// another is relayed to it (Relayer).
type Store interface {
	Put(ctx context.Context, st State) error
	Get(ctx context.Context, id ID) (State, error)
	Delete(ctx context.Context, id ID) error
}
