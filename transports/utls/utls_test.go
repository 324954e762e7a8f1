package utls

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/tlskit"
)

const testServerName = "www.example.com"

// listenLoopback starts a utls listener on 127.0.0.1 that lives as long as the test.
func listenLoopback(t *testing.T, args transports.Args) transports.Listener {
	t.Helper()
	if args == nil {
		args = transports.Args{tlskit.ArgServerName: testServerName}
	}
	ln, err := New(nil).Listen(context.Background(), transports.ListenConfig{Addr: "127.0.0.1:0", Args: args, StateDir: t.TempDir()})
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// dialerFor builds a dialer for ln with the listener's bridge arguments plus extra.
func dialerFor(t *testing.T, ln transports.Listener, extra transports.Args) transports.Dialer {
	t.Helper()
	args := ln.BridgeArgs()
	for k, v := range extra {
		args[k] = v
	}
	d, err := New(nil).NewDialer(ln.Addr().String(), args)
	if err != nil {
		t.Fatalf("NewDialer(%v): %v", args, err)
	}
	return d
}

// echoOnce accepts one conn and echoes it until EOF.
func echoOnce(t *testing.T, ln net.Listener) <-chan error {
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		_, err = io.Copy(c, c)
		done <- err
	}()
	return done
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestRoundTripWithEveryFingerprint(t *testing.T) {
	for _, fp := range []string{tlskit.FPChrome, tlskit.FPFirefox, tlskit.FPSafari, tlskit.FPRandom} {
		for _, frag := range []string{"0", "1", "100"} {
			t.Run(fp+"/frag="+frag, func(t *testing.T) {
				ln := listenLoopback(t, nil)
				done := echoOnce(t, ln)
				c, err := dialerFor(t, ln, transports.Args{tlskit.ArgFP: fp, tlskit.ArgFrag: frag}).Dial(testContext(t))
				if err != nil {
					t.Fatalf("Dial: %v", err)
				}
				c.SetDeadline(time.Now().Add(30 * time.Second))
				msg := make([]byte, 200<<10)
				rand.Read(msg)
				go func() {
					c.Write(msg)
					c.(interface{ CloseWrite() error }).CloseWrite()
				}()
				got, err := io.ReadAll(c)
				if err != nil {
					t.Fatalf("read echo: %v", err)
				}
				if !bytes.Equal(got, msg) {
					t.Fatalf("echo returned %d bytes that differ from the %d sent", len(got), len(msg))
				}
				c.Close()
				if err := <-done; err != nil && !errors.Is(err, net.ErrClosed) {
					t.Fatalf("server side: %v", err)
				}
			})
		}
	}
}
