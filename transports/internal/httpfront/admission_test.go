package httpfront

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"runtime"
	"testing"

	"github.com/umbrella-edge/edge/transports/admission"
)

func TestAnIdlePeerGivesItsPlaceToANewcomer(t *testing.T) {
	pool := admission.NewPool(admission.Config{Slots: 1})
	ln := listenFront(t, nil, pool)
	idle := dial(t, ln.Addr().String())
	for pool.Len() == 0 { // the listener has taken the idle peer in
		runtime.Gosched()
	}
	c := dial(t, ln.Addr().String())
	io.WriteString(c, ours(""))
	acceptWithin(t, ln)
	// Cut off as nginx cuts off a peer that ran out of its patience: a FIN, nothing
	// before it.
	if n, err := idle.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("the idle peer read %d bytes, %v; want it closed", n, err)
	}
}

func TestDecoyPeersBeyondTheHeldCapAreClosedOldestFirst(t *testing.T) {
	held := admission.NewHeld(1)
	ln := listenFront(t, nil, admission.NewPool(admission.Config{Held: held}))
	var readers []*bufio.Reader
	for range 2 {
		c := dial(t, ln.Addr().String())
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: a.example\r\n\r\n")
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		readers = append(readers, br) // kept alive, as nginx keeps a browser
	}
	if _, err := readers[0].ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("the older decoy peer read %v, want it closed once a second was held", err)
	}
	if held.Len() != 1 {
		t.Fatalf("%d decoy peers held, want the younger one", held.Len())
	}
}
