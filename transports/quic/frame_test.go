package quic

import (
	"errors"
	"io"
	"testing"

	"github.com/quic-go/quic-go/quicvarint"

	"github.com/umbrella-edge/edge/internal/webtest"
)

func TestCarrierFrameTypesAreReservedHTTP3Types(t *testing.T) {
	// RFC 9114 section 7.2.8: reserved types are 0x1f*N + 0x21, which HTTP/3
	// servers skip; this is what lets a rejected carrier go on as HTTP/3.
	for _, typ := range []uint64{frameData, frameEnd, frameAck} {
		if (typ-0x21)%0x1f != 0 {
			t.Errorf("frame type %#x is not a reserved HTTP/3 frame type", typ)
		}
	}
}

func TestParseHeader(t *testing.T) {
	tests := []struct {
		name    string
		b       []byte
		want    frameHeader
		wantErr error
	}{
		{"data", appendHeader(nil, frameData, 1400), frameHeader{frameData, 1400, 4}, nil},
		{"empty data", appendHeader(nil, frameData, 0), frameHeader{frameData, 0, 3}, nil},
		{"largest data", appendHeader(nil, frameData, maxPayload), frameHeader{frameData, maxPayload, 6}, nil},
		{"end", appendHeader(nil, frameEnd, 0), frameHeader{frameEnd, 0, 3}, nil},
		{"ack then more", append(appendHeader(nil, frameAck, 0), 0xff), frameHeader{frameAck, 0, 3}, nil},
		{"empty", nil, frameHeader{}, io.ErrUnexpectedEOF},
		{"type cut short", appendHeader(nil, frameData, 5)[:1], frameHeader{}, io.ErrUnexpectedEOF},
		{"length missing", appendHeader(nil, frameData, 5)[:2], frameHeader{}, io.ErrUnexpectedEOF},
		{"HEADERS", []byte{0x01, 0x05, 0, 0, 0xd1, 0xd7, 0x50}, frameHeader{}, errForeignFrame},
		{"GREASE type", appendHeader(nil, 0x21, 4), frameHeader{}, errForeignFrame},
		{"data too long", appendHeader(nil, frameData, maxPayload+1), frameHeader{}, errBadFrame},
		{"end with payload", appendHeader(nil, frameEnd, 1), frameHeader{}, errBadFrame},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := parseHeader(tt.b)
			if !errors.Is(err, tt.wantErr) || h != tt.want {
				t.Fatalf("parseHeader(%x) = %+v, %v; want %+v, %v", tt.b, h, err, tt.want, tt.wantErr)
			}
		})
	}
}

// bytesPeeker peeks a byte slice as *quic.Stream peeks a stream whose peer sent b
// and finished.
type bytesPeeker []byte

func (p bytesPeeker) Peek(b []byte) (int, error) {
	n := copy(b, p)
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}

func TestPeekHeader(t *testing.T) {
	tests := []struct {
		name    string
		stream  []byte
		want    frameHeader
		wantErr error
	}{
		{"one frame", webtest.QUICCarrierFrames(300), frameHeader{frameData, 300, 4}, nil},
		{"eight-byte varints", quicvarint.Append(quicvarint.Append(nil, frameData), 1<<40), frameHeader{}, errBadFrame},
		{"finished stream", nil, frameHeader{}, io.EOF},
		{"finished inside a header", appendHeader(nil, frameData, 300)[:3], frameHeader{}, io.ErrUnexpectedEOF},
		{"a request", []byte{0x01, 0x05}, frameHeader{}, errForeignFrame},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := peekHeader(bytesPeeker(tt.stream))
			if !errors.Is(err, tt.wantErr) || h != tt.want {
				t.Fatalf("peekHeader(%x) = %+v, %v; want %+v, %v", tt.stream, h, err, tt.want, tt.wantErr)
			}
		})
	}
}

// errKind is the sentinel an error from the frame parsers wraps.
func errKind(err error) error {
	for _, k := range []error{io.ErrUnexpectedEOF, io.EOF, errForeignFrame, errBadFrame} {
		if errors.Is(err, k) {
			return k
		}
	}
	return err
}

// FuzzParseHeader checks that any bytes parse without panicking, that peeking gives
// what parsing gives, and that a header parsed is one appendHeader writes alike.
func FuzzParseHeader(f *testing.F) {
	f.Add(webtest.QUICCarrierFrames(10))
	f.Add(appendHeader(nil, frameEnd, 0))
	f.Add(appendHeader(nil, frameAck, 0))
	f.Add([]byte{0x01, 0x05, 0, 0, 0xd1})
	f.Add(quicvarint.Append(quicvarint.Append(nil, frameData), 1<<40))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseHeader(b)
		if len(b) > 0 {
			ph, perr := peekHeader(bytesPeeker(b))
			if ph != h || errKind(perr) != errKind(err) {
				t.Fatalf("peekHeader = %+v, %v; parseHeader = %+v, %v", ph, perr, h, err)
			}
		}
		if err != nil {
			return
		}
		if h.size > len(b) || h.size > maxHeader {
			t.Fatalf("header of %d bytes parsed from %d", h.size, len(b))
		}
		again := appendHeader(nil, h.typ, int(h.length))
		if h2, err := parseHeader(again); err != nil || h2.typ != h.typ || h2.length != h.length || h2.size != len(again) {
			t.Fatalf("appendHeader(%+v) = %x, which parses as %+v, %v", h, again, h2, err)
		}
	})
}
