package quic

import (
	"errors"
	"fmt"
	"io"

	"github.com/quic-go/quic-go/quicvarint"
)

// The carrier stream is a sequence of HTTP/3 frames of reserved types (RFC 9114
// section 7.2.8: 0x1f*N + 0x21), which every HTTP/3 server must read and skip (section
// 9). So the bytes the gateway reads from a stream before it rejects the peer are
// bytes a real HTTP/3 server would have discarded too, and a rejected stream can go on
// as an ordinary request stream from the next frame. Three kinds:
//
//	data  a piece of the byte stream
//	end   the sender has finished writing (CloseWrite); only ack may follow
//	ack   the sender has read the peer's end, so everything the peer sent arrived
//
// end and ack carry no payload. They replace QUIC's FIN because a QUIC connection has
// no graceful close: a side can close the connection only once it knows the peer has
// read all it sent, which end plus ack tell it.
const (
	frameData uint64 = 0x1f*0x150 + 0x21
	frameEnd  uint64 = 0x1f*0x151 + 0x21
	frameAck  uint64 = 0x1f*0x152 + 0x21
)

// maxPayload bounds a data frame; the writer cuts larger writes. A reader refuses
// longer frames, so a peer cannot make it wait for a frame that never completes.
const maxPayload = 1 << 16

// maxHeader is the longest frame header: two 8-byte varints.
const maxHeader = 16

var (
	// errForeignFrame is returned for a frame that is not one of the carrier's kinds:
	// the peer speaks HTTP/3 (or nonsense) from here on.
	errForeignFrame = errors.New("not a carrier frame")
	// errBadFrame is returned for a carrier frame whose length is impossible.
	errBadFrame = errors.New("malformed carrier frame")
)

// frameHeader is one parsed frame header.
type frameHeader struct {
	typ    uint64
	length uint64
	size   int // bytes the header takes on the wire
}

// parseHeader parses the frame header at the start of b. It returns io.ErrUnexpectedEOF
// when b ends inside the header, errForeignFrame when the type is not a carrier kind,
// and errBadFrame when the length does not fit the kind.
func parseHeader(b []byte) (frameHeader, error) {
	typ, n, err := quicvarint.Parse(b)
	if err != nil {
		return frameHeader{}, io.ErrUnexpectedEOF
	}
	if typ != frameData && typ != frameEnd && typ != frameAck {
		return frameHeader{}, fmt.Errorf("%w: type %#x", errForeignFrame, typ)
	}
	length, m, err := quicvarint.Parse(b[n:])
	if err != nil {
		return frameHeader{}, io.ErrUnexpectedEOF
	}
	h := frameHeader{typ: typ, length: length, size: n + m}
	switch {
	case typ == frameData && length > maxPayload:
		return frameHeader{}, fmt.Errorf("%w: %d-byte data frame, over %d", errBadFrame, length, maxPayload)
	case typ != frameData && length != 0:
		return frameHeader{}, fmt.Errorf("%w: control frame with %d bytes of payload", errBadFrame, length)
	}
	return h, nil
}

// appendHeader appends a frame header to b.
func appendHeader(b []byte, typ uint64, length int) []byte {
	return quicvarint.Append(quicvarint.Append(b, typ), uint64(length))
}

// A peeker reads a stream without consuming it, as *quic.Stream's Peek does: it
// blocks until len(b) bytes are there, the read deadline passes, or the stream ends
// (then it returns what there is with io.EOF).
type peeker interface {
	Peek(b []byte) (int, error)
}

// peekHeader returns the frame header at the stream's read position without
// consuming it, so a frame that is not the carrier's is left whole for HTTP/3. It
// returns io.EOF when the stream ends before a header starts.
func peekHeader(s peeker) (frameHeader, error) {
	var b [maxHeader]byte
	need := 1
	for {
		n, err := s.Peek(b[:need])
		if err != nil {
			if errors.Is(err, io.EOF) {
				if n == 0 {
					return frameHeader{}, io.EOF
				}
				return frameHeader{}, io.ErrUnexpectedEOF
			}
			return frameHeader{}, err
		}
		h, err := parseHeader(b[:need])
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			return h, err
		}
		// Each varint says its own length in its first byte's two high bits; peek no
		// further than parseHeader needs, so a foreign frame is known by its type.
		tl := 1 << (b[0] >> 6)
		next := tl
		if need >= tl {
			next = tl + 1
		}
		if need >= tl+1 {
			next = tl + 1<<(b[tl]>>6)
		}
		if next <= need {
			return frameHeader{}, errBadFrame // cannot happen: parseHeader had all it needs
		}
		need = next
	}
}
