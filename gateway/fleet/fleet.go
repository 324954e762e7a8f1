package fleet

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/logging"

	"github.com/umbrella-edge/edge/gateway/limits"
)

// Defaults for Config fields left 0.
const (
	// DefaultWait is how long a hello waits for Redis to answer its replay check,
	// or to come back, before it gets the answer garbage gets: a Redis on the same
	// network answers in well under a millisecond, and a client's handshake deadline
	// (1.5 s and more) must leave it room to try another bridge.
	DefaultWait = 500 * time.Millisecond
	// DefaultLease is how long a directory entry outlives its last renewal: an edge
	// renews its sessions' entries every third of it, so an edge that died leaves
	// entries that name it for at most this long.
	DefaultLease = 10 * time.Minute
	// DefaultPrefix begins every key the fleet writes, so that a Redis can hold
	// other data, or another fleet under another prefix.
	DefaultPrefix = "umbrella:"
)

// Config is one edge's view of its fleet.
type Config struct {
	// Edge names this edge in the fleet: letters, digits, '.', '_' and '-', unique.
	Edge string
	// Identity is the fleet's identity, the key bridge lines pin, the same on every
	// edge. Its seed also derives the key that certifies the edges' link keys.
	Identity ed25519.PrivateKey
	// LinkKey is this edge's own key for the inter-edge link.
	LinkKey ed25519.PrivateKey
	// Link is where this edge listens for other edges ("10.0.0.5:7443").
	Link string
	// LinkPublic is the address other edges dial; empty means Link, which must then
	// not be a wildcard.
	LinkPublic string
	// Redis is how to reach the fleet's Redis.
	Redis RedisConfig
	// Wait bounds how long a hello waits for Redis; 0 means DefaultWait.
	Wait time.Duration
	// Lease is how long a directory entry lives unrenewed; 0 means DefaultLease.
	Lease time.Duration
	// Logger receives the fleet's logs; nil discards them.
	Logger *slog.Logger
}

// RedisConfig says how to reach Redis.
type RedisConfig struct {
	Addr     string // host:port
	Username string // Redis 6 ACL user; empty means the default user
	Password string
	DB       int
	// TLS, when not nil, is the client's TLS configuration (roots, server name,
	// client certificate); nil means plain TCP, for a Redis on a private network.
	TLS *tls.Config
	// Prefix begins every key; empty means DefaultPrefix.
	Prefix string
}

// Fleet is one edge's membership of its fleet. Open one, hand it to the gateway
// (gateway.Config.Fleet), and Close it after the gateway stopped.
type Fleet struct {
	cfg     Config
	log     *slog.Logger
	rdb     *redis.Client
	keys    keys
	health  *health
	metrics *metrics
	link    *link
	dir     *directory
	revoked *revocations
	relays  *relays
	changed news // Redis lost or found, a revocation applied
	epoch   epoch

	mu    sync.Mutex
	local localKeys // the gateway's own replay cache, reseeded into Redis after an outage

	stop context.CancelFunc
	wg   sync.WaitGroup
}

// quietRedis silences go-redis's own logger, which is process-wide, unstructured and
// on stderr: during an outage it writes a line at every probe. The fleet says what
// matters itself, once, in the gateway's logs and metrics.
var quietRedis sync.Once

// Open binds the link's listener and starts watching Redis. It does not need Redis to
// be up: until it is, the fleet says so in logs and metrics, and hellos that need it
// are refused.
func Open(ctx context.Context, cfg Config) (*Fleet, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	quietRedis.Do(func() { logging.Disable() })
	f := &Fleet{cfg: cfg, log: cfg.Logger.With("fleet_edge", cfg.Edge), keys: keys(cfg.Redis.Prefix)}
	f.rdb = redis.NewClient(redisOptions(&cfg))
	f.metrics = newMetrics()
	f.health = newHealth(f.log, f.metrics, &f.changed)
	f.revoked = newRevocations(f)
	f.dir = newDirectory(f)
	f.relays = newRelays(f.metrics)
	var err error
	if f.link, err = listenLink(ctx, &cfg, f.revoked, f.log); err != nil {
		f.rdb.Close()
		return nil, err
	}
	wctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	f.stop = stop
	f.wg.Go(func() { f.watch(wctx) })
	f.wg.Go(func() { f.revoked.listen(wctx) })
	return f, nil
}

func (c *Config) setDefaults() error {
	switch {
	case limits.CheckEdgeName(c.Edge) != nil:
		return fmt.Errorf("fleet: %w", limits.CheckEdgeName(c.Edge))
	case len(c.Identity) != ed25519.PrivateKeySize:
		return errors.New("fleet: no identity key")
	case len(c.LinkKey) != ed25519.PrivateKeySize:
		return errors.New("fleet: no link key")
	case c.Link == "":
		return errors.New("fleet: no link address")
	case c.Redis.Addr == "":
		return errors.New("fleet: no Redis address")
	}
	if c.LinkPublic == "" {
		host, _, err := net.SplitHostPort(c.Link)
		if err != nil {
			return fmt.Errorf("fleet: link %q: %w", c.Link, err)
		}
		if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
			return fmt.Errorf("fleet: link %q is a wildcard: say which address other edges dial (link_public)", c.Link)
		}
	}
	if c.Wait <= 0 {
		c.Wait = DefaultWait
	}
	if c.Lease <= 0 {
		c.Lease = DefaultLease
	}
	if c.Redis.Prefix == "" {
		c.Redis.Prefix = DefaultPrefix
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Edge is this edge's name.
func (f *Fleet) Edge() string { return f.cfg.Edge }

// LinkKey is this edge's public link key, which RevokeKeys takes.
func (f *Fleet) LinkKey() ed25519.PublicKey { return f.cfg.LinkKey.Public().(ed25519.PublicKey) }

// LinkAddr is the address the link listens on.
func (f *Fleet) LinkAddr() net.Addr { return f.link.ln.Addr() }

// Up reports whether Redis answers now.
func (f *Fleet) Up() bool { return f.health.isUp() }

// AwaitUp returns once Redis answers and this edge has joined the fleet (or come
// back after an outage, and the fleet has settled after Redis lost its data), or
// with ctx's error.
func (f *Fleet) AwaitUp(ctx context.Context) error {
	if err := f.health.awaitUp(ctx); err != nil {
		return err
	}
	return f.settled(ctx)
}

// Changed returns a channel closed at the next change this edge sees: Redis lost or
// found again, a revocation applied. Tests and tools wait on it, never on a clock.
func (f *Fleet) Changed() <-chan struct{} { return f.changed.next() }

// Close stops the link, ends the carriers this edge relays (their clients resume
// elsewhere), takes this edge out of the fleet's list and disconnects from Redis.
func (f *Fleet) Close() error {
	f.link.close()
	f.relays.closeAll()
	f.stop()
	f.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), f.cfg.Wait)
	defer cancel()
	if err := f.rdb.Del(ctx, f.keys.edge(f.cfg.Edge)).Err(); err != nil {
		f.log.Warn("fleet: could not leave the list of edges; others see this edge gone when its entry expires", "err", err)
	}
	return f.rdb.Close()
}
