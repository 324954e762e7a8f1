package fleet

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/umbrella-edge/edge/session"
)

// A revocation names what no edge may accept any more, never holding it: a bridge
// secret by a hash (a secret is 32 random bytes, so its hash gives nothing away), an
// edge's link key by its public key. Redis keeps them in a set, for edges that start
// or come back, and publishes each as it is added, for the edges running.
const (
	revokedSecret = "secret:"
	revokedKey    = "key:"
	labelRevoked  = "umbrella-edge/v1 revoked secret"
)

// SecretID is how a revoked bridge secret is named in Redis and in logs.
func SecretID(s session.Secret) string {
	sum := sha256.Sum256(append([]byte(labelRevoked), s[:]...))
	return revokedSecret + hex.EncodeToString(sum[:])
}

// KeyID is how a revoked link key is named.
func KeyID(pub ed25519.PublicKey) string { return revokedKey + hex.EncodeToString(pub) }

// validID tells a revocation from anything else a shared store may hold.
func validID(id string) bool {
	for prefix, size := range map[string]int{revokedSecret: sha256.Size, revokedKey: ed25519.PublicKeySize} {
		if rest, ok := strings.CutPrefix(id, prefix); ok {
			b, err := hex.DecodeString(rest)
			return err == nil && len(b) == size
		}
	}
	return false
}

// short is a revocation's name cut for a log line.
func short(id string) string {
	if i := strings.IndexByte(id, ':'); i >= 0 && len(id) > i+13 {
		return id[:i+13]
	}
	return id
}

// revocations is this edge's copy of the fleet's, and those it could not publish yet.
type revocations struct {
	f       *Fleet
	mu      sync.Mutex
	set     map[string]struct{}
	pending []string
}

func newRevocations(f *Fleet) *revocations {
	return &revocations{f: f, set: make(map[string]struct{})}
}

// RevokeSecrets makes every edge of the fleet refuse these bridge secrets: this one
// at once, the others when Redis tells them (within a second or two; docs/fleet.md).
// If Redis cannot be reached, they are refused here and published when it is back.
func (f *Fleet) RevokeSecrets(ctx context.Context, secrets ...session.Secret) error {
	ids := make([]string, len(secrets))
	for i, s := range secrets {
		ids[i] = SecretID(s)
	}
	return f.revoke(ctx, ids)
}

// RevokeKeys makes every edge refuse these link keys: an edge holding one can no
// longer relay to, or take relays from, the others.
func (f *Fleet) RevokeKeys(ctx context.Context, keys ...ed25519.PublicKey) error {
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = KeyID(k)
	}
	return f.revoke(ctx, ids)
}

func (f *Fleet) revoke(ctx context.Context, ids []string) error {
	r := f.revoked
	r.mu.Lock()
	r.pending = append(r.pending, ids...)
	r.mu.Unlock()
	for _, id := range ids {
		r.apply(id, "this edge")
	}
	ctx, cancel := context.WithTimeout(ctx, f.cfg.Wait)
	defer cancel()
	if err := r.publish(ctx); err != nil {
		return fmt.Errorf("fleet: revoked here; the other edges learn it when Redis is back: %w", err)
	}
	return nil
}

// publish adds the pending revocations to the set and announces each.
func (r *revocations) publish(ctx context.Context) error {
	r.mu.Lock()
	ids := slices.Clone(r.pending)
	r.mu.Unlock()
	if len(ids) == 0 {
		return nil
	}
	pipe := r.f.rdb.TxPipeline()
	pipe.SAdd(ctx, r.f.keys.revoked(), toAny(ids)...)
	for _, id := range ids {
		pipe.Publish(ctx, r.f.keys.revocations(), id)
	}
	if err := r.f.do(execAll(ctx, pipe)); err != nil {
		return err
	}
	r.mu.Lock()
	r.pending = slices.DeleteFunc(r.pending, func(id string) bool { return slices.Contains(ids, id) })
	r.mu.Unlock()
	return nil
}

func toAny(ids []string) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}

// apply adds one revocation to this edge's copy; from the next hello on, it holds.
func (r *revocations) apply(id, from string) {
	if !validID(id) {
		r.f.log.Warn("fleet: ignoring a revocation that names nothing this edge knows", "revocation", short(id))
		return
	}
	r.mu.Lock()
	_, had := r.set[id]
	r.set[id] = struct{}{}
	n := len(r.set)
	r.mu.Unlock()
	if had {
		return
	}
	r.f.changed.tell()
	r.f.metrics.revocations.Set(float64(n))
	r.f.log.Info("fleet: revocation applied", "revoked", short(id), "from", from)
}

func (r *revocations) has(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.set[id]
	return ok
}

// Allowed returns the secrets of list that the fleet has not revoked.
func (f *Fleet) Allowed(list []session.Secret) []session.Secret {
	out := make([]session.Secret, 0, len(list))
	for _, s := range list {
		if !f.revoked.has(SecretID(s)) {
			out = append(out, s)
		}
	}
	return out
}

// KeyRevoked reports whether the fleet has revoked a link key.
func (f *Fleet) KeyRevoked(pub ed25519.PublicKey) bool { return f.revoked.has(KeyID(pub)) }

// reconcile reads the whole set (what was revoked while this edge was away or its
// subscription was down) and publishes what this edge could not.
func (r *revocations) reconcile(ctx context.Context) error {
	ids, err := r.f.rdb.SMembers(ctx, r.f.keys.revoked()).Result()
	if err := r.f.do(err); err != nil {
		return err
	}
	for _, id := range ids {
		r.apply(id, "Redis")
	}
	return r.publish(ctx)
}

// listen applies revocations as Redis publishes them, until ctx ends. Whenever the
// subscription is (re)made, the whole set is read too: what was revoked while it was
// down, or before it was first made, is applied at once, not at the next reconcile.
// A subscription quiet for pubsubCheck is pinged, so that a connection that died
// without a word is found and made again.
func (r *revocations) listen(ctx context.Context) {
	ps := r.f.rdb.Subscribe(ctx, r.f.keys.revocations())
	// A Receive blocked in a read does not see ctx end; closing the subscription
	// ends it at once, so that Close (and a gateway's drain) does not wait pubsubCheck.
	stop := context.AfterFunc(ctx, func() { ps.Close() })
	defer func() {
		if stop() {
			ps.Close()
		}
	}()
	for ctx.Err() == nil {
		msg, err := ps.ReceiveTimeout(ctx, pubsubCheck)
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				r.reconcile(ctx)
			}
		case *redis.Message:
			r.apply(m.Payload, "published")
		}
		var ne net.Error
		switch {
		case err == nil, ctx.Err() != nil:
		case errors.As(err, &ne) && ne.Timeout():
			ps.Ping(ctx)
		default:
			select { // Redis is away: the next Receive subscribes again
			case <-time.After(probeDown):
			case <-ctx.Done():
			}
		}
	}
}

// pubsubCheck is how long the subscription may stay quiet before it is pinged.
const pubsubCheck = 15 * time.Second
