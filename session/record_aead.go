package session

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// newRecordAEAD is the records' AEAD that the hellos agreed on, under a 32-byte key:
// both have 12-byte nonces and 16-byte tags, so the record layout is the same.
func newRecordAEAD(id aeadID, key []byte) (cipher.AEAD, error) {
	switch id {
	case aeadChaCha20Poly1305:
		return chacha20poly1305.New(key)
	case aeadAES256GCM:
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		return cipher.NewGCM(block)
	}
	return nil, fmt.Errorf("no record AEAD %v", id)
}
