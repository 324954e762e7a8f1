package session

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"testing"
)

func muxFrame(typ byte, id uint32, payload ...byte) []byte {
	return append(appendMuxHeader(nil, typ, id, len(payload)), payload...)
}

// FuzzMuxHeader: a header that parses marshals back to the same bytes.
func FuzzMuxHeader(f *testing.F) {
	f.Add(muxFrame(muxOpen, 1, 'm', 'l', 's')[:muxHeaderSize])
	f.Add(muxFrame(muxCredit, 7, 0, 1, 0, 0)[:muxHeaderSize])
	f.Add(appendMuxHeader(nil, muxData, 1<<31, maxMuxPayload))
	f.Add(appendMuxHeader(nil, muxFin, 0, 0))
	f.Fuzz(func(t *testing.T, p []byte) {
		if len(p) < muxHeaderSize {
			return
		}
		h, err := parseMuxHeader((*[muxHeaderSize]byte)(p))
		if err != nil {
			return
		}
		if again := appendMuxHeader(nil, h.typ, h.id, h.n); !bytes.Equal(again, p[:muxHeaderSize]) {
			t.Fatalf("%v marshals to %x, parsed from %x", h, again, p[:muxHeaderSize])
		}
	})
}

// FuzzMuxFrames feeds a gateway mux and a client mux (with two streams open) the
// same arbitrary peer stream. Whatever it says, neither panics, a violation ends
// the session as ErrRecord, and no stream delivers more than its window or
// anything after its FIN.
func FuzzMuxFrames(f *testing.F) {
	f.Add(slices.Concat(muxFrame(muxOpen, 1, 'e', 'c', 'h', 'o'), muxFrame(muxData, 1, 'h', 'i'), muxFrame(muxFin, 1)))
	f.Add(slices.Concat(muxFrame(muxData, 2, 'x'), muxFrame(muxCredit, 2, 0, 0, 1, 0), muxFrame(muxReset, 1)))
	f.Add(slices.Concat(muxFrame(muxOpen, 3, 'a'), muxFrame(muxOpen, 2, 'b')))
	f.Add(slices.Concat(muxFrame(muxFin, 1), muxFrame(muxData, 1, 'x')))
	f.Add(muxFrame(muxData, 9, 'x'))
	f.Add([]byte{9, 0, 0, 0, 1, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, server := range []bool{true, false} {
			peer := &memPipe{limit: 1 << 20}
			fatal := make(chan error, 1)
			m := newMux(memEnd{in: peer, out: &memPipe{limit: 1 << 20}}, server, func(err error) { fatal <- err }, muxLimits{})
			var streams []*muxStream
			if !server {
				for range 2 {
					s, err := m.open(context.Background(), "x")
					if err != nil {
						t.Fatal(err)
					}
					streams = append(streams, s)
				}
			}
			memEnd{out: peer}.appendFrame(in) // the whole input, after the opens
			peer.close(io.EOF)
			<-m.done
			select {
			case err := <-fatal:
				if !errors.Is(err, ErrRecord) {
					t.Fatalf("violation reported as %v, want ErrRecord", err)
				}
			default:
			}
			for server {
				s, err := m.accept(context.Background())
				if err != nil {
					break
				}
				streams = append(streams, s)
			}
			for _, s := range streams {
				b, err := io.ReadAll(s)
				if len(b) > streamWindow {
					t.Fatalf("stream %d delivered %d bytes, past its window", s.id, len(b))
				}
				if err == nil && !s.finIn {
					t.Fatalf("stream %d read to EOF without a FIN", s.id)
				}
			}
		}
	})
}
