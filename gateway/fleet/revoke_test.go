package fleet

import (
	"context"
	"crypto/ed25519"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/umbrella-edge/edge/session"
)

func secret(b byte) (s session.Secret) {
	for i := range s {
		s[i] = b
	}
	return s
}

// A secret revoked on one edge is refused by every edge: those running, at once
// through pub/sub, and one that joins later, from the set.
func TestARevokedSecretIsRefusedByEveryEdge(t *testing.T) {
	srv := startRedis(t)
	id := newKey(t)
	a, b, c := edgeOf(t, srv, "a", id), edgeOf(t, srv, "b", id), edgeOf(t, srv, "c", id)
	kept, leaked := secret(1), secret(2)
	both := []session.Secret{kept, leaked}
	for _, e := range []*Fleet{a, b, c} {
		if got := e.Allowed(both); len(got) != 2 {
			t.Fatalf("edge %s allows %d of 2 secrets before any revocation", e.Edge(), len(got))
		}
	}
	if err := a.RevokeSecrets(context.Background(), leaked); err != nil {
		t.Fatal(err)
	}
	for _, e := range []*Fleet{a, b, c, edgeOf(t, srv, "late", id)} {
		await(t, e, "the revocation", func() bool { return len(e.Allowed(both)) == 1 })
		if got := e.Allowed(both); !slices.Equal(got, []session.Secret{kept}) {
			t.Errorf("edge %s allows %x after the revocation; want only the kept secret", e.Edge(), got)
		}
	}
}

// A revocation made while Redis is down holds on its edge at once and reaches the
// others when Redis is back.
func TestARevocationMadeDuringAnOutageIsPublishedAfter(t *testing.T) {
	srv := startRedis(t)
	id := newKey(t)
	a, b := edgeOf(t, srv, "a", id), edgeOf(t, srv, "b", id)
	srv.Kill()
	await(t, a, "edge a to see Redis down", func() bool { return !a.Up() })
	leaked := []session.Secret{secret(3)}
	if err := a.RevokeSecrets(context.Background(), leaked...); err == nil {
		t.Error("RevokeSecrets with Redis down: no error; want one saying the others do not know yet")
	}
	if len(a.Allowed(leaked)) != 0 {
		t.Fatal("the edge that revoked a secret during an outage still allows it")
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	await(t, b, "the revocation to reach b", func() bool { return len(b.Allowed(leaked)) == 0 })
}

// Only names of revocations are kept; anything else in the set is ignored.
func TestRevocationNamesAreChecked(t *testing.T) {
	k := newKey(t)
	tests := []struct {
		id   string
		want bool
	}{
		{SecretID(secret(1)), true},
		{KeyID(k.Public().(ed25519.PublicKey)), true},
		{"secret:00", false},
		{"key:" + SecretID(secret(1))[len("secret:"):62], false},
		{"key:" + strings.Repeat("zz", 32), false},
		{"password:hunter2", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := validID(tt.id); got != tt.want {
			t.Errorf("validID(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
}

// The directory names the edge holding a session, to every edge, until the session
// ends; a Redis that restarted empty gets it back from the holder.
func TestTheDirectoryNamesTheHolder(t *testing.T) {
	srv := startRedis(t)
	id := newKey(t)
	a, b := edgeOf(t, srv, "a", id), edgeOf(t, srv, "b", id)
	ctx := context.Background()
	st := session.State{ID: session.ID{1, 2, 3}, Endpoint: session.Endpoint{Transport: "tcp", Address: "203.0.113.5:443"}}
	if err := a.Directory().Put(ctx, st); err != nil {
		t.Fatal(err)
	}
	holder := func() string {
		e, err := b.dir.lookup(ctx, st.ID)
		if err != nil {
			return err.Error()
		}
		return e.Edge
	}
	if h := holder(); h != "a" {
		t.Fatalf("edge b reads %q as the holder; want a", h)
	}
	got, err := b.Directory().Get(ctx, st.ID)
	if err != nil || got.Endpoint != st.Endpoint {
		t.Fatalf("Get at b: %+v, %v; want the endpoint a put", got, err)
	}

	srv.Kill()
	await(t, a, "edge a to see Redis down", func() bool { return !a.Up() })
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	rejoined(t, a)
	if h := holder(); h != "a" {
		t.Fatalf("after Redis restarted empty, edge b reads %q as the holder; want a", h)
	}

	if err := a.Directory().Delete(ctx, st.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Directory().Get(ctx, st.ID); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Get of an ended session: %v; want session.ErrNotFound", err)
	}
}

// An edge whose identity is not the fleet's does not join it.
func TestAnEdgeOfAnotherIdentityDoesNotJoin(t *testing.T) {
	srv := startRedis(t)
	edgeOf(t, srv, "a", newKey(t))
	f, err := Open(context.Background(), Config{Edge: "stranger", Identity: newKey(t), LinkKey: newKey(t),
		Link: "127.0.0.1:0", Redis: RedisConfig{Addr: srv.Addr, Password: redisPassword}})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*DefaultWait)
	defer cancel()
	if err := f.recover(ctx); !errors.Is(err, ErrIdentity) {
		t.Fatalf("joining with another identity: %v; want ErrIdentity", err)
	}
	if f.Up() {
		t.Fatal("an edge of another identity counts Redis as up: it would check hellos there")
	}
}
