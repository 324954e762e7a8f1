package websocket

import (
	"bytes"
	"net"
	"slices"
	"testing"
)

// carrierWrites records each write that reaches the carrier.
type carrierWrites struct {
	net.Conn
	writes [][]byte
}

func (c *carrierWrites) Write(p []byte) (int, error) {
	c.writes = append(c.writes, bytes.Clone(p))
	return len(p), nil
}

func TestHeldWritesGatherAMessageAndPassTheRestThrough(t *testing.T) {
	piece := bytes.Repeat([]byte{7}, 4096)
	tests := []struct {
		name   string
		run    func(h *heldWrites) error
		writes []int // the lengths that reach the carrier, in order
	}{
		{"unheld writes go straight through", func(h *heldWrites) error {
			h.Write(piece[:2])
			_, err := h.Write(piece)
			return err
		}, []int{2, 4096}},
		{"a held message is one write at release", func(h *heldWrites) error {
			h.hold()
			h.Write(piece[:maxFrameHeader])
			for range chunkSize / len(piece) {
				h.Write(piece)
			}
			return h.release()
		}, []int{maxFrameHeader + chunkSize}},
		{"more than a buffer goes out as it fills", func(h *heldWrites) error {
			h.hold()
			for range chunkSize/len(piece) + 1 {
				h.Write(piece)
			}
			return h.release()
		}, []int{chunkSize, 4096}},
		{"a write larger than the buffer passes after what was held", func(h *heldWrites) error {
			h.hold()
			h.Write(piece[:maxFrameHeader])
			h.Write(make([]byte, 2*chunkSize))
			return h.release()
		}, []int{maxFrameHeader, 2 * chunkSize}},
		{"writes after release go straight through", func(h *heldWrites) error {
			h.hold()
			h.Write(piece)
			if err := h.release(); err != nil {
				return err
			}
			_, err := h.Write(piece[:2])
			return err
		}, []int{4096, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &carrierWrites{}
			if err := tt.run(&heldWrites{Conn: c}); err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, w := range c.writes {
				got = append(got, len(w))
			}
			if !slices.Equal(got, tt.writes) {
				t.Errorf("carrier writes %v, want %v", got, tt.writes)
			}
		})
	}
}

func TestDialedConnsHoldTheirMessages(t *testing.T) {
	ln := listenT(t, "127.0.0.1:0", ownFront(t))
	defer ln.Close()
	c, err := dialerTo(t, ln.Addr().String()).Dial(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.(*conn).held == nil {
		t.Fatal("a dialed conn writes its messages through coder's 4 KiB buffer alone: no heldWrites under it")
	}
}
