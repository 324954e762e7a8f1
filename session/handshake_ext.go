package session

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"slices"

	"golang.org/x/sys/cpu"
)

// Hello extensions travel at the start of a hello's padding, which every version-2
// peer fills with zeros and never reads, so a peer that knows none still understands
// the hello: its zeros read as an empty list, and a list it receives it skips as
// padding. The client's are inside the client hello, which the transcript covers
// whole; the gateway's follow its signature and the transcript covers them too
// (docs/protocol.md, "Hello extensions"), so no one can strip or change either side's.
//
// An extension is BE16(type) || BE16(length) || data; a type of 0, or fewer than two
// bytes left, ends the list.
const (
	extEnd  = 0
	extAEAD = 1 // client: the record AEADs it takes, preferred first; gateway: the one chosen

	extHeaderSize = 4
	// maxExtensions bounds the extensions of one hello, within the padding's room.
	maxExtensions = 256
)

// aeadID names a record AEAD in the AEAD extension.
type aeadID byte

const (
	aeadChaCha20Poly1305 aeadID = 1 // every peer takes it: the default
	aeadAES256GCM        aeadID = 2
)

func (a aeadID) String() string {
	switch a {
	case aeadChaCha20Poly1305:
		return "ChaCha20-Poly1305"
	case aeadAES256GCM:
		return "AES-256-GCM"
	}
	return fmt.Sprintf("AEAD(%d)", byte(a))
}

// helloExtensions are one hello's extensions. The zero value is none.
type helloExtensions struct {
	aeads []aeadID // nil: no AEAD extension
}

// marshal encodes the extensions, or nothing when there are none.
func (e helloExtensions) marshal() []byte {
	if e.aeads == nil {
		return nil
	}
	dst := binary.BigEndian.AppendUint16(nil, extAEAD)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(e.aeads)))
	for _, a := range e.aeads {
		dst = append(dst, byte(a))
	}
	return dst
}

// parseExtensions reads the extension list at the start of p (a hello's padding) and
// returns it with its length in bytes, the end marker not counted. Unknown types are
// skipped; an extension that overruns p or comes twice is malformed.
func parseExtensions(p []byte) (helloExtensions, int, error) {
	var e helloExtensions
	off := 0
	seen := make(map[uint16]bool)
	for len(p)-off >= 2 {
		typ := binary.BigEndian.Uint16(p[off:])
		if typ == extEnd {
			break
		}
		if len(p)-off < extHeaderSize {
			return e, 0, fmt.Errorf("%w: hello extension %d has no length", errMalformed, typ)
		}
		n := int(binary.BigEndian.Uint16(p[off+2:]))
		data := p[off+extHeaderSize:]
		if n > len(data) || n > maxExtensions {
			return e, 0, fmt.Errorf("%w: hello extension %d of %d bytes overruns the hello", errMalformed, typ, n)
		}
		if seen[typ] {
			return e, 0, fmt.Errorf("%w: hello extension %d twice", errMalformed, typ)
		}
		seen[typ] = true
		if typ == extAEAD {
			if n == 0 {
				return e, 0, fmt.Errorf("%w: empty AEAD extension", errMalformed)
			}
			e.aeads = make([]aeadID, n)
			for i, b := range data[:n] {
				e.aeads[i] = aeadID(b)
			}
		}
		off += extHeaderSize + n
	}
	return e, off, nil
}

// localAEADs is what this machine offers or takes, preferred first: AES-256-GCM
// before ChaCha20-Poly1305 only where AES and carry-less multiplication run in
// hardware, the test Go's crypto/tls makes for its own cipher-suite order
// (crypto/tls/cipher_suites.go): in software AES-GCM is slower than
// ChaCha20-Poly1305 and not constant-time, on AES hardware it is 2.5 times faster
// (go test -bench, 16 KiB seals on the project's 2-core development machine: 2.1 GB/s
// against 0.84 GB/s).
func localAEADs() []aeadID {
	if hasAESHardware() {
		return []aeadID{aeadAES256GCM, aeadChaCha20Poly1305}
	}
	return []aeadID{aeadChaCha20Poly1305}
}

func hasAESHardware() bool {
	switch runtime.GOARCH {
	case "amd64":
		return cpu.X86.HasAES && cpu.X86.HasPCLMULQDQ
	case "arm64":
		return cpu.ARM64.HasAES && cpu.ARM64.HasPMULL
	case "s390x":
		return cpu.S390X.HasAES && cpu.S390X.HasAESGCM
	case "ppc64", "ppc64le":
		return true
	}
	return false
}

// chooseAEAD is the gateway's choice: the client's first preference when it is the
// gateway's first too (both have AES hardware, or neither does), ChaCha20-Poly1305
// otherwise, which every peer takes.
func chooseAEAD(offer, local []aeadID) aeadID {
	if len(offer) > 0 && len(local) > 0 && offer[0] == local[0] {
		return offer[0]
	}
	return aeadChaCha20Poly1305
}

// acceptedAEAD checks the gateway's answer to the client's offer: one AEAD, one the
// client offered. No answer (a gateway that knows no extensions, or an offer of none)
// means ChaCha20-Poly1305.
func acceptedAEAD(offer []aeadID, answer helloExtensions) (aeadID, error) {
	switch {
	case answer.aeads == nil:
		return aeadChaCha20Poly1305, nil
	case len(answer.aeads) != 1:
		return 0, fmt.Errorf("%w: gateway chose %d AEADs", errMalformed, len(answer.aeads))
	case !slices.Contains(offer, answer.aeads[0]):
		return 0, fmt.Errorf("%w: gateway chose %v, not offered", errMalformed, answer.aeads[0])
	}
	return answer.aeads[0], nil
}

// aeadPrefs is a config's record AEADs, preferred first. Nil, as every config outside
// this package's tests has it, means localAEADs; an empty list makes a peer behave as
// one from before the AEAD extension, which neither offers nor answers one.
type aeadPrefs []aeadID

// offer is the client's AEAD extension; nil sends none.
func (p aeadPrefs) offer() []aeadID {
	if p == nil {
		return localAEADs()
	}
	if len(p) == 0 {
		return nil
	}
	return p
}

// answers reports whether the gateway answers an AEAD extension.
func (p aeadPrefs) answers() bool { return p == nil || len(p) > 0 }

// list is the gateway's own preference.
func (p aeadPrefs) list() []aeadID {
	if p == nil {
		return localAEADs()
	}
	return p
}
