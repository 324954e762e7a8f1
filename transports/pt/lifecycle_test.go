package pt

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/transports"
)

// echoAccepted echoes every conn ln accepts until ln closes.
func echoAccepted(ln transports.Listener) {
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
}

// echoOnce dials with d and checks that a message comes back.
func echoOnce(ctx context.Context, d transports.Dialer) error {
	c, err := d.Dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	msg := []byte("ping through a PT program")
	if _, err := c.Write(msg); err != nil {
		return err
	}
	_, err = io.ReadFull(c, make([]byte, len(msg)))
	return err
}

func TestClientProgramIsRestartedAfterItDies(t *testing.T) {
	tr := newTransport(t)
	ln := listenObfs4(t, tr, t.TempDir())
	echoAccepted(ln)
	d, err := tr.NewDialer(ln.Addr().String(), ln.BridgeArgs())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := echoOnce(ctx, d); err != nil {
		t.Fatalf("first dial: %v", err)
	}
	first := clientChild(t, tr)
	first.cmd.Process.Kill()
	<-first.exited

	if err := echoOnce(ctx, d); err != nil {
		t.Fatalf("dial after the client program died: %v", err)
	}
	if second := clientChild(t, tr); second == first || !second.alive() {
		t.Error("no new client program runs")
	}
}

func TestServerProgramIsRestartedOnItsAddress(t *testing.T) {
	tr := newTransport(t)
	ln := listenObfs4(t, tr, t.TempDir())
	echoAccepted(ln)
	addr, args := ln.Addr().String(), ln.BridgeArgs()
	d, err := tr.NewDialer(addr, args)
	if err != nil {
		t.Fatal(err)
	}
	l := ln.(*listener)
	l.mu.Lock()
	first := l.child
	l.mu.Unlock()
	first.cmd.Process.Kill()
	<-first.exited

	// The restart waits a second, then must come back on the address and with the
	// identity the bridge line already names.
	var lastErr error
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		lastErr = echoOnce(ctx, d)
		cancel()
		if lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		t.Fatalf("the bridge line never worked again after the server program died: %v", lastErr)
	}
	if ln.Addr().String() != addr || ln.BridgeArgs()["cert"] != args["cert"] {
		t.Errorf("after the restart: %s %v, want the same %s %v", ln.Addr(), ln.BridgeArgs(), addr, args)
	}
}

func TestServerProgramStopsAfterCloseAndDrain(t *testing.T) {
	tr := newTransport(t)
	ln := listenObfs4(t, tr, t.TempDir())
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	d, err := tr.NewDialer(ln.Addr().String(), ln.BridgeArgs())
	if err != nil {
		t.Fatal(err)
	}
	client, err := d.Dial(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server := <-accepted
	l := ln.(*listener)
	ln.Close()

	// Closing the listener does not end the conn it accepted…
	if _, err := client.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	server.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadFull(server, make([]byte, 1)); err != nil {
		t.Fatalf("an accepted conn stopped working when the listener closed: %v", err)
	}
	if !l.child.alive() {
		t.Fatal("the server program stopped while a conn it carries was open")
	}
	// …and the program stops once that conn is closed.
	server.Close()
	select {
	case <-l.child.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("the server program still runs after the listener and its last conn closed")
	}
}

// clientChild returns tr's running obfs4 client program.
func clientChild(t *testing.T, tr *Transport) *child {
	t.Helper()
	tr.mu.Lock()
	p := tr.proxies["obfs4"]
	tr.mu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.current == nil || p.current.child == nil {
		t.Fatal("no client program was started")
	}
	return p.current.child
}
