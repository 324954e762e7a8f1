package fleet

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// How the fleet watches Redis. An edge's entry in the list of edges is its heartbeat:
// written every heartbeat, it expires edgeTTL after the last, so another edge learns
// that this one is gone within seconds even when nothing refuses its connections.
const (
	heartbeat   = time.Second
	edgeTTL     = 5 * time.Second
	probeDown   = 200 * time.Millisecond // how often a Redis that is down is tried again
	reconcileIn = 30 * time.Second       // revocations are read whole this often, beside pub/sub
)

// keys names what the fleet keeps in Redis, each under the prefix. Session IDs and
// replay keys go in as raw bytes (Redis keys are binary-safe): a hex key would cost
// each entry 16 or 32 bytes more.
type keys string

func (k keys) replay(key [32]byte) string { return string(k) + "r:" + string(key[:]) }
func (k keys) session(id []byte) string   { return string(k) + "s:" + string(id) }
func (k keys) edge(name string) string    { return string(k) + "e:" + name }
func (k keys) identity() string           { return string(k) + "identity" }
func (k keys) revoked() string            { return string(k) + "revoked" }
func (k keys) revocations() string        { return string(k) + "revocations" }

func redisOptions(c *Config) *redis.Options {
	return &redis.Options{
		Addr:       c.Redis.Addr,
		Username:   c.Redis.Username,
		Password:   c.Redis.Password,
		DB:         c.Redis.DB,
		TLSConfig:  c.Redis.TLS,
		ClientName: "umbrella-edge:" + c.Edge,
		// A hello waits at most Wait for Redis, so a command may take no longer, and
		// is not retried here: the watch loop, not each hello, finds Redis again.
		DialTimeout:           c.Wait,
		ReadTimeout:           c.Wait,
		WriteTimeout:          c.Wait,
		ContextTimeoutEnabled: true,
		MaxRetries:            -1,
		DialerRetries:         1,
		DisableIdentity:       true,
	}
}

// health is whether Redis answers, as the watch loop and every command see it.
type health struct {
	log *slog.Logger
	m   *metrics

	mu        sync.Mutex
	up        bool
	upCh      chan struct{} // closed while up
	downSince time.Time     // zero before the first connection
	changed   *news         // told at every change, down or up
}

// news is a broadcast of events: next returns a channel closed at the next tell.
type news struct {
	mu sync.Mutex
	ch chan struct{}
}

func (n *news) next() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch == nil {
		n.ch = make(chan struct{})
	}
	return n.ch
}

func (n *news) tell() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch != nil {
		close(n.ch)
		n.ch = nil
	}
}

func newHealth(log *slog.Logger, m *metrics, changed *news) *health {
	return &health{log: log, m: m, upCh: make(chan struct{}), changed: changed}
}

func (h *health) isUp() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.up
}

// awaitUp returns when Redis is up, or with ctx's error.
func (h *health) awaitUp(ctx context.Context) error {
	h.mu.Lock()
	ch := h.upCh
	h.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// fail records that a command could not reach Redis.
func (h *health) fail(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.up {
		return
	}
	h.up, h.upCh, h.downSince = false, make(chan struct{}), time.Now()
	h.changed.tell()
	h.m.redisUp.Set(0)
	h.m.outages.Inc()
	h.log.Warn("fleet: Redis unreachable: going on with local state; hellos that need the shared replay check are refused until it is back",
		"err", err)
}

func (h *health) markUp() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.up {
		return
	}
	h.up = true
	close(h.upCh)
	h.changed.tell()
	h.m.redisUp.Set(1)
	if h.downSince.IsZero() {
		h.log.Info("fleet: Redis reachable")
		return
	}
	gap := time.Since(h.downSince)
	h.m.downSeconds.Add(gap.Seconds())
	h.log.Info("fleet: Redis reachable again", "down_for", gap.Round(time.Millisecond))
}

// do runs one command's error through the health: anything but redis.Nil (an absent
// key, an unset NX) means Redis could not do what was asked.
func (f *Fleet) do(err error) error {
	if err != nil && !errors.Is(err, redis.Nil) {
		f.health.fail(err)
	}
	return err
}

// watch keeps this edge's heartbeat, finds Redis again after an outage, and renews
// the directory and revocations on their schedules, until ctx ends.
func (f *Fleet) watch(ctx context.Context) {
	renewDir := time.Now().Add(f.cfg.Lease / 3)
	reconcile := time.Now().Add(reconcileIn)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !f.health.isUp() {
			if err := f.recover(ctx); err != nil {
				if ctx.Err() == nil {
					f.log.Debug("fleet: Redis still unreachable", "err", err)
				}
				t.Reset(probeDown)
				continue
			}
			f.health.markUp()
			renewDir, reconcile = time.Now().Add(f.cfg.Lease/3), time.Now().Add(reconcileIn)
		}
		f.beat(ctx)
		if time.Now().After(renewDir) {
			f.dir.renew(ctx)
			renewDir = time.Now().Add(f.cfg.Lease / 3)
		}
		if time.Now().After(reconcile) {
			f.revoked.reconcile(ctx)
			reconcile = time.Now().Add(reconcileIn)
		}
		t.Reset(heartbeat)
	}
}

// beat writes this edge's heartbeat and reads the fleet's epoch, in one round trip.
func (f *Fleet) beat(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, f.cfg.Wait)
	defer cancel()
	pipe := f.rdb.Pipeline()
	pipe.Set(ctx, f.keys.edge(f.cfg.Edge), f.link.public, edgeTTL)
	epoch := pipe.Get(ctx, f.keys.epoch())
	if err := f.do(execAll(ctx, pipe)); err != nil {
		return
	}
	if !f.sameEpoch(epoch.Val()) {
		f.health.fail(errLostData)
	}
}

// recover brings this edge back into the fleet after Redis was unreachable (or
// before it was ever reached): the fleet's identity is checked, the heartbeat
// written, and what this edge knows that Redis may have lost (if it restarted
// empty) written back: the replay keys it accepted, its sessions' entries, the
// revocations it could not publish. Only then are hellos checked against Redis again.
func (f *Fleet) recover(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*f.cfg.Wait)
	defer cancel()
	if err := f.checkIdentity(ctx); err != nil {
		return err
	}
	if err := f.joinEpoch(ctx); err != nil {
		return err
	}
	if err := f.rdb.Set(ctx, f.keys.edge(f.cfg.Edge), f.link.public, edgeTTL).Err(); err != nil {
		return err
	}
	steps := []struct {
		what string
		do   func(context.Context) error
	}{
		{"replay keys", f.reseed},
		{"directory", f.dir.renew},
		{"revocations", f.revoked.reconcile},
	}
	for _, s := range steps {
		if err := s.do(ctx); err != nil {
			return fmt.Errorf("restore %s: %w", s.what, err)
		}
	}
	return nil
}

// checkIdentity makes sure every edge of the fleet holds one identity: the first
// edge to reach Redis records it, and an edge holding another is refused. An edge
// with its own identity could not open the others' tickets nor be linked to.
func (f *Fleet) checkIdentity(ctx context.Context) error {
	mine := hex.EncodeToString(f.cfg.Identity.Public().(ed25519.PublicKey))
	if err := f.rdb.SetNX(ctx, f.keys.identity(), mine, 0).Err(); err != nil {
		return err
	}
	fleet, err := f.rdb.Get(ctx, f.keys.identity()).Result()
	if err != nil {
		return err
	}
	if fleet != mine {
		err := fmt.Errorf("%w: this edge's is %.16s…, the fleet's %.16s…", ErrIdentity, mine, fleet)
		f.log.Error("fleet: this edge cannot join: copy identity.key from another edge of the fleet", "err", err)
		return err
	}
	return nil
}

// ErrIdentity means this edge's identity key is not the fleet's.
var ErrIdentity = errors.New("fleet: identity key differs from the fleet's")
