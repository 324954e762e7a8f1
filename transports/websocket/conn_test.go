package websocket

import (
	"context"
	"testing"
	"time"

	ws "github.com/coder/websocket"
)

// TestTextMessagesEndTheCarrier checks that a peer sending anything but binary
// messages (a browser page, a confused proxy) gets no data through: the carrier ends.
func TestTextMessagesEndTheCarrier(t *testing.T) {
	ln := listenT(t, "127.0.0.1:0", ownFront(t))
	defer ln.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	c, err := dialerTo(t, ln.Addr().String()).Dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := c.(*conn).ws.Write(ctx, ws.MessageText, []byte("not a carrier")); err != nil {
		t.Fatal(err)
	}
	s.SetReadDeadline(time.Now().Add(30 * time.Second))
	n, err := s.Read(make([]byte, 64))
	if err == nil || n != 0 {
		t.Fatalf("Read after a text message = %d, %v; want no data and an error", n, err)
	}
	if ne, ok := err.(interface{ Timeout() bool }); ok && ne.Timeout() {
		t.Fatalf("Read timed out instead of failing: %v", err)
	}
}
