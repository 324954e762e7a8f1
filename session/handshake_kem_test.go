package session

import (
	"runtime"
	"testing"

	"github.com/umbrella-edge/edge/internal/avx"
)

// circl's AVX2 code leaves the vector registers' upper halves dirty, and the SHA-256
// and AES that follow it in a handshake ran many times slower for it (internal/avx).
// Every KEM call the handshakes make must leave them clean.
func TestKEMCallsLeaveTheVectorRegistersClean(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if _, known := avx.UpperDirty(); !known {
		t.Skip("this CPU cannot report whether the upper halves are in use")
	}
	check := func(step string) {
		t.Helper()
		if dirty, _ := avx.UpperDirty(); dirty {
			t.Errorf("after %s the upper halves of the vector registers are in use", step)
		}
	}
	pubBytes, priv, err := kemScheme.keyPair()
	if err != nil {
		t.Fatal(err)
	}
	check("keyPair")
	pub, err := kemScheme.UnmarshalBinaryPublicKey(pubBytes)
	if err != nil {
		t.Fatal(err)
	}
	check("UnmarshalBinaryPublicKey")
	ct, sent, err := kemScheme.Encapsulate(pub)
	if err != nil {
		t.Fatal(err)
	}
	check("Encapsulate")
	got, err := kemScheme.Decapsulate(priv, ct)
	if err != nil {
		t.Fatal(err)
	}
	check("Decapsulate")
	if string(got) != string(sent) {
		t.Fatal("decapsulated secret differs from the encapsulated one")
	}
}
