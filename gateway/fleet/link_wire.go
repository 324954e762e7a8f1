package fleet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/umbrella-edge/edge/session"
)

// On a link connection the relaying edge sends one request, then the client's
// carrier bytes; the holding edge answers with the carrier's bytes alone (its server
// hello first), or closes the connection without a byte when it will not answer.
//
//	request = version (1) || BE32(len(handoff)) || handoff
//
// handoff is session.Handoff's encoding. Nothing after the request is read here:
// it is the carrier's.
const (
	linkVersion      = 1
	linkRequestFixed = 1 + 4
)

// errRequest wraps every reason a request is refused.
var errRequest = errors.New("fleet: link request")

func appendRequest(dst, handoff []byte) []byte {
	dst = append(dst, linkVersion)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(handoff)))
	return append(dst, handoff...)
}

// readRequest reads one request, exactly: never a byte of the carrier behind it, and
// never more memory than the largest handoff, whatever the length says.
func readRequest(r io.Reader) ([]byte, error) {
	var head [linkRequestFixed]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return nil, fmt.Errorf("%w: %w", errRequest, err)
	}
	if head[0] != linkVersion {
		return nil, fmt.Errorf("%w: version %d", errRequest, head[0])
	}
	n := binary.BigEndian.Uint32(head[1:])
	if n == 0 || n > session.MaxHandoffSize {
		return nil, fmt.Errorf("%w: handoff of %d bytes", errRequest, n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("%w: %w", errRequest, err)
	}
	return b, nil
}
