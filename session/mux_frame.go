package session

import (
	"encoding/binary"
	"fmt"
)

// Stream mux frames, carried in the session stream (docs/protocol.md, "Streams"): a
// 7-byte header, then the payload.
const (
	muxOpen   = 1 // client → gateway: a new stream; payload: the service name
	muxData   = 2 // payload: the next bytes of the stream
	muxCredit = 3 // payload: BE32 more bytes the sender may receive on the stream
	muxFin    = 4 // the sender writes no more on the stream (half-close)
	muxReset  = 5 // the sender neither reads nor writes the stream any more

	muxHeaderSize = 1 + 4 + 2 // type, stream ID, payload length
	// maxMuxPayload keeps one frame within one record.
	maxMuxPayload = maxRecordData - muxHeaderSize
	creditSize    = 4
)

// muxHeader is a parsed frame header.
type muxHeader struct {
	typ byte
	id  uint32
	n   int // payload length
}

func (h muxHeader) String() string {
	return fmt.Sprintf("frame type %d for stream %d with %d bytes", h.typ, h.id, h.n)
}

func appendMuxHeader(dst []byte, typ byte, id uint32, n int) []byte {
	dst = append(dst, typ)
	dst = binary.BigEndian.AppendUint32(dst, id)
	return binary.BigEndian.AppendUint16(dst, uint16(n))
}

// parseMuxHeader checks a header: a known type, a stream ID (never 0), and the
// payload length the type allows.
func parseMuxHeader(p *[muxHeaderSize]byte) (muxHeader, error) {
	h := muxHeader{typ: p[0], id: binary.BigEndian.Uint32(p[1:5]), n: int(binary.BigEndian.Uint16(p[5:7]))}
	lo, hi := 0, 0
	switch h.typ {
	case muxOpen:
		lo, hi = 1, maxServiceName
	case muxData:
		lo, hi = 1, maxMuxPayload
	case muxCredit:
		lo, hi = creditSize, creditSize
	case muxFin, muxReset:
	default:
		return h, fmt.Errorf("%w: unknown stream frame type %d", errMalformed, h.typ)
	}
	if h.id == 0 {
		return h, fmt.Errorf("%w: %v: stream 0", errMalformed, h)
	}
	if h.n < lo || h.n > hi {
		return h, fmt.Errorf("%w: %v, want %d to %d", errMalformed, h, lo, hi)
	}
	return h, nil
}

// maxServiceName bounds the service name an open frame carries, which is its payload.
const maxServiceName = 255

func checkServiceName(service string) error {
	if len(service) == 0 || len(service) > maxServiceName {
		return fmt.Errorf("session: service name of %d bytes, want 1 to %d", len(service), maxServiceName)
	}
	return nil
}
