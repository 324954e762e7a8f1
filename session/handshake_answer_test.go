package session

import (
	"bytes"
	"context"
	"crypto/cipher"
	"io"
	"testing"
)

// readServerHello reads one server hello from conn and opens it as a client would,
// returning its random prefix, the key that sealed it, its sealed body and the opened
// body.
func readServerHello(t *testing.T, conn io.Reader, hk *helloKeys) (serverRandom []byte, key cipher.AEAD, sealed, plain []byte) {
	t.Helper()
	var hdr [serverPrefixSize]byte
	if _, err := io.ReadFull(conn, hdr[:]); err != nil {
		t.Fatalf("read server hello: %v", err)
	}
	key, mask, err := hk.serverHelloKeys(hdr[:serverRandomSize])
	if err != nil {
		t.Fatal(err)
	}
	sealed = make([]byte, unmaskLen(hdr[serverRandomSize:], mask))
	if _, err := io.ReadFull(conn, sealed); err != nil {
		t.Fatalf("read server hello body: %v", err)
	}
	if plain, err = key.Open(nil, zeroNonce[:], sealed, hdr[:]); err != nil {
		t.Fatalf("open server hello with the key its prefix gives: %v", err)
	}
	return hdr[:serverRandomSize], key, sealed, plain
}

// TestAnswersToOneHelloNeverShareAKey answers one client hello twice, as a gateway
// that lost its replay cache would (two fresh caches), and checks that the two server
// hellos are sealed under different keys: with a shared key and nonce, the XOR of the
// two sealed bodies would be the XOR of the two plaintexts, and their tags forgeable.
func TestAnswersToOneHelloNeverShareAKey(t *testing.T) {
	cc, _ := testConfigs()
	hello := craftHello(t, cc)
	hk, err := deriveHelloKeys(&cc.Secret, hello[:randomSize], hello[randomSize:randomSize+markSize])
	if err != nil {
		t.Fatal(err)
	}
	type answer struct {
		serverRandom  []byte
		key           cipher.AEAD
		sealed, plain []byte
	}
	var answers []answer
	for range 2 {
		_, sc := testConfigs() // a new replay cache: the gateway restarted and forgot
		so := startServer(t, carriers[1], context.Background(), sc)
		if _, err := so.client.Write(hello); err != nil {
			t.Fatal(err)
		}
		var a answer
		a.serverRandom, a.key, a.sealed, a.plain = readServerHello(t, so.client, &hk)
		if err := so.wait(t); err != nil {
			t.Fatalf("Server: %v", err)
		}
		answers = append(answers, a)
	}
	a, b := answers[0], answers[1]
	if bytes.Equal(a.serverRandom, b.serverRandom) {
		t.Fatal("two answers have the same random prefix")
	}
	probe := make([]byte, 64)
	if bytes.Equal(a.key.Seal(nil, zeroNonce[:], probe, nil), b.key.Seal(nil, zeroNonce[:], probe, nil)) {
		t.Fatal("two answers to one hello are sealed under the same key and nonce")
	}
	n := min(len(a.plain), len(b.plain))
	if bytes.Equal(xor(a.sealed[:n], b.sealed[:n]), xor(a.plain[:n], b.plain[:n])) {
		t.Fatal("the XOR of the two sealed answers is the XOR of their plaintexts: one keystream")
	}
}

func xor(a, b []byte) []byte {
	out := make([]byte, len(a))
	for i := range a {
		out[i] = a[i] ^ b[i]
	}
	return out
}

// withVersion returns hello resealed with another body version byte, as a client of
// that protocol version would have sent it.
func withVersion(t testing.TB, cc *ClientConfig, hello []byte, version byte) []byte {
	t.Helper()
	hk, err := deriveHelloKeys(&cc.Secret, hello[:randomSize], hello[randomSize:randomSize+markSize])
	if err != nil {
		t.Fatal(err)
	}
	prefix := hello[:helloPrefixSize]
	body, err := hk.client.Open(nil, zeroNonce[:], hello[helloPrefixSize:], prefix)
	if err != nil {
		t.Fatal(err)
	}
	body[0] = version
	return hk.client.Seal(clone(prefix), zeroNonce[:], body, prefix)
}

// A client of version 1 (whose answers reused key and nonce) or of a version to come
// sends a hello the gateway can open but not answer: it gets what garbage gets, and
// the gateway counts it under its own reason.
func TestHelloOfAnotherVersionGetsNothing(t *testing.T) {
	for _, version := range []byte{1, 3, 0xff} {
		cc, sc := testConfigs()
		hello := withVersion(t, cc, craftHello(t, cc), version)
		so := startServer(t, carriers[1], context.Background(), sc)
		go so.client.Write(hello)
		err := so.wait(t)
		if got := helloReason(err); got != "version" {
			t.Errorf("version %d: Server: %v, reason %q; want \"version\"", version, err, got)
		}
		if n := so.written.Load(); n != 0 {
			t.Errorf("version %d: gateway wrote %d bytes; want none", version, n)
		}
		if got := consumed(err); !bytes.Equal(got, hello) {
			t.Errorf("version %d: Consumed holds %d bytes; want the hello's %d", version, len(got), len(hello))
		}
	}
}
