package meek

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/admission"
)

// admittedListener is plainListener taking its connections into pool.
func admittedListener(t *testing.T, pool *admission.Pool) *listener {
	t.Helper()
	args := transports.Args{"tls": "false", "servername": "front.example", "path": "/m"}
	l, err := listen(context.Background(), transports.ListenConfig{Addr: "127.0.0.1:0", Args: args, Admission: pool})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestAnIdleConnectionGivesItsPlaceToANewcomer(t *testing.T) {
	pool := admission.NewPool(admission.Config{Slots: 1})
	l := admittedListener(t, pool)
	idle, err := net.DialTimeout("tcp", l.Addr().String(), hang)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	for pool.Len() == 0 { // the listener has taken the idle connection in
		runtime.Gosched()
	}
	c, err := net.DialTimeout("tcp", l.Addr().String(), hang)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(hang))
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: front.example\r\n\r\n")
	if _, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil {
		t.Fatalf("a request while an idle connection held the only place: %v", err)
	}
	idle.SetReadDeadline(time.Now().Add(hang))
	if n, err := idle.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("the idle connection read %d bytes, %v; want it cut off as nginx cuts off a stalled peer", n, err)
	}
}

func TestKeptAliveDecoyVisitorsBeyondTheHeldCapAreClosedOldestFirst(t *testing.T) {
	held := admission.NewHeld(1)
	l := admittedListener(t, admission.NewPool(admission.Config{Held: held}))
	var readers []*bufio.Reader
	for range 2 {
		c, err := net.DialTimeout("tcp", l.Addr().String(), hang)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(hang))
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: front.example\r\n\r\n")
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		readers = append(readers, br)
	}
	if _, err := readers[0].ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("the older visitor read %v, want it closed once a second was held", err)
	}
	if held.Len() != 1 {
		t.Fatalf("%d visitors held, want the younger one", held.Len())
	}
}
