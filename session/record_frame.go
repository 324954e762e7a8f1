package session

import (
	"encoding/binary"
	"fmt"
)

// Frame types, one frame per record. docs/protocol.md lists their layouts.
const (
	framePadding = 0 // no data: the whole record is padding
	frameData    = 1 // bytes of the session stream, following the previous data frame
	frameAck     = 2 // BE64 bytes received, BE64 ping answered (0: none)
	framePing    = 3 // BE64 ping number, answered at once by an ack
	frameOffset  = 4 // BE64 stream offset of the next data frame on this carrier
	frameClose   = 5 // no data: the sender ended the session
)

// controlSize is the exact data length of each control frame type.
var controlSize = map[byte]int{frameAck: 16, framePing: 8, frameOffset: 8, frameClose: 0}

// control is a control frame to send.
type control struct {
	typ  byte
	a, b uint64 // the frame's fields, as many as its type has
}

func (c control) appendData(dst []byte) []byte {
	switch controlSize[c.typ] {
	case 16:
		dst = binary.BigEndian.AppendUint64(dst, c.a)
		return binary.BigEndian.AppendUint64(dst, c.b)
	case 8:
		return binary.BigEndian.AppendUint64(dst, c.a)
	}
	return dst
}

// parseControl reads the fields of an opened control frame.
func parseControl(typ byte, data []byte) (control, error) {
	n, ok := controlSize[typ]
	if !ok {
		return control{}, fmt.Errorf("%w: unknown frame type %d", errMalformed, typ)
	}
	if len(data) != n {
		return control{}, fmt.Errorf("%w: frame type %d with %d data bytes, want %d", errMalformed, typ, len(data), n)
	}
	c := control{typ: typ}
	if n >= 8 {
		c.a = binary.BigEndian.Uint64(data)
	}
	if n == 16 {
		c.b = binary.BigEndian.Uint64(data[8:])
	}
	return c, nil
}

// parseFrame splits an opened record into its frame type and data; padding frames
// have none.
func parseFrame(p []byte) (byte, []byte, error) {
	if len(p) < frameHeaderSize {
		return 0, nil, fmt.Errorf("%w: frame of %d bytes", errMalformed, len(p))
	}
	n := int(binary.BigEndian.Uint16(p[1:3]))
	if n > len(p)-frameHeaderSize {
		return 0, nil, fmt.Errorf("%w: frame data of %d bytes in a %d-byte record", errMalformed, n, len(p))
	}
	typ, data := p[0], p[frameHeaderSize:frameHeaderSize+n]
	switch typ {
	case frameData:
	case framePadding:
		if n != 0 {
			return 0, nil, fmt.Errorf("%w: padding frame with %d data bytes", errMalformed, n)
		}
	default:
		if _, err := parseControl(typ, data); err != nil {
			return 0, nil, err
		}
	}
	return typ, data, nil
}
