package fleet

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/umbrella-edge/edge/session"
)

// serveLinks accepts f's link connections and reports, for each, the edge its
// certificate named; the connection is closed at once.
func serveLinks(t *testing.T, f *Fleet) <-chan string {
	t.Helper()
	from := make(chan string, 8)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.ServeLink(ctx, func(_ context.Context, conn net.Conn, edge string, _ *session.Handoff) {
			from <- edge
			conn.Close()
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	return from
}

// request is a link request whose handoff parses (its contents answer nothing).
func request(t *testing.T) []byte {
	t.Helper()
	h, err := session.ParseHandoff(handoffSeed())
	if err != nil {
		t.Fatal(err)
	}
	b, err := h.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return appendRequest(nil, b)
}

// handoffSeed is a well-formed handoff: version, keys, an endpoint, a hello of a
// resume hello's smallest size.
func handoffSeed() []byte {
	b := append([]byte{1}, make([]byte, 68)...)
	ep := []byte("\x00\x03tcp\x00\x0e127.0.0.1:4433\x00\x00")
	b = append(b, 0, byte(len(ep)))
	b = append(b, ep...)
	const hello = 50 + 1226 + 42 + 16
	b = append(b, hello>>8, hello&0xff)
	return append(b, make([]byte, hello)...)
}

// The link admits the edges of its fleet, each for the name it dialled, and no one
// else: not an edge of another fleet, not one under another name, not a revoked key.
func TestTheLinkAdmitsOnlyTheFleet(t *testing.T) {
	srv := startRedis(t)
	id := newKey(t)
	a, b := edgeOf(t, srv, "a", id), edgeOf(t, srv, "b", id)
	from := serveLinks(t, a)
	addr := a.LinkAddr().String()
	ctx := context.Background()

	dial := func(f *Fleet, name string) error {
		c, err := f.link.dial(ctx, name, addr)
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := c.Write(request(t)); err != nil {
			return err
		}
		_, err = c.Read(make([]byte, 1)) // a's answer closes it; a refusal resets it
		if errors.Is(err, io.EOF) {
			return nil
		}
		return err
	}
	if err := dial(b, "a"); err != nil {
		t.Fatalf("edge b to edge a: %v", err)
	}
	if got := <-from; got != "b" {
		t.Fatalf("edge a saw a link from %q; want b", got)
	}
	if err := dial(b, "c"); !errors.Is(err, ErrLink) {
		t.Errorf("edge b dialling a as edge c: %v; want ErrLink", err)
	}

	other := edgeOf(t, startRedis(t), "b", newKey(t))
	if err := dial(other, "a"); err == nil {
		t.Error("an edge of another fleet reached edge a's link")
	}
	if err := a.RevokeKeys(ctx, b.cfg.LinkKey.Public().(ed25519.PublicKey)); err != nil {
		t.Fatal(err)
	}
	await(t, b, "the revocation of b's link key", func() bool { return b.KeyRevoked(b.cfg.LinkKey.Public().(ed25519.PublicKey)) })
	if err := dial(b, "a"); err == nil {
		t.Error("edge b reached edge a with its link key revoked")
	}
	select {
	case e := <-from:
		t.Fatalf("edge a took a request from %q that it should have refused", e)
	default:
	}
}

func FuzzReadRequest(f *testing.F) {
	f.Add(appendRequest(nil, handoffSeed()))
	f.Add([]byte{linkVersion, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{2, 0, 0, 0, 1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		got, err := readRequest(r)
		if err != nil {
			return
		}
		if read := len(b) - r.Len(); read != linkRequestFixed+len(got) {
			t.Fatalf("read %d bytes for a handoff of %d: the carrier behind it must stay unread", read, len(got))
		}
		session.ParseHandoff(got)
	})
}

// FuzzParseEntry: a directory entry is read from Redis, which other edges (or whoever
// reaches Redis) write. Parsing never panics, and an entry it accepts says the session
// state it was written from.
func FuzzParseEntry(f *testing.F) {
	f.Add([]byte(`{"e":"edge-a","c":1800000000,"r":1800000100,"t":"quic","a":"192.0.2.1:443","n":"cdn.example"}`))
	f.Add([]byte(`{"e":"","c":1}`))
	f.Add([]byte(`{"c":-9223372036854775808}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"e":"a","r":-62135596800}`)) // Resumed at Go's zero time
	f.Fuzz(func(t *testing.T, v []byte) {
		e, err := parseEntry(v)
		if err != nil {
			return
		}
		if e.Edge == "" {
			t.Fatal("accepted an entry that names no edge")
		}
		var id session.ID
		st := e.state(id)
		if again := entryOf(st, e.Edge); again != e {
			t.Fatalf("entry %+v gives state %+v, which gives entry %+v", e, st, again)
		}
	})
}

func FuzzValidID(f *testing.F) {
	var s session.Secret
	f.Add(SecretID(s))
	f.Add(KeyID(make([]byte, 32)))
	f.Add(revokedSecret + "zz")
	f.Fuzz(func(t *testing.T, id string) {
		if !validID(id) {
			return
		}
		if SecretID(s) != id && !strings.HasPrefix(id, revokedSecret) && !strings.HasPrefix(id, revokedKey) {
			t.Fatalf("%q accepted as a revocation", id)
		}
	})
}
