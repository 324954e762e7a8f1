package client_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/client"
	"github.com/umbrella-edge/edge/client/failure"
	"github.com/umbrella-edge/edge/session"
	"github.com/umbrella-edge/edge/transports"
)

func TestDialReachesTheServiceOverEachTransport(t *testing.T) {
	for _, name := range []string{"tcp", "utls"} {
		t.Run(name, func(t *testing.T) {
			good := startGateway(t, name)[0]
			c, err := client.New(client.Config{Bridges: []bridge.Line{good}, Transports: registry(t),
				Network: func() string { return "test" }})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			echo(t, c, []byte("ping"))
			if c.Active() != name {
				t.Errorf("Active() = %q, want %q", c.Active(), name)
			}
		})
	}
}

func TestDialReportsEveryBridgeFailure(t *testing.T) {
	good := startGateway(t)[0]
	wrongKey := good
	wrongKey.Key, _, _ = ed25519.GenerateKey(rand.Reader)
	c, err := client.New(client.Config{
		Bridges:    []bridge.Line{refusedBridge(t, good), wrongKey},
		Transports: registry(t),
		Network:    func() string { return "test" },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), hangTimeout)
	defer cancel()
	_, err = c.Dial(ctx, "echo")
	var ce *client.ConnectError
	if !errors.As(err, &ce) || len(ce.Failures) != 2 {
		t.Fatalf("Dial error %v, want a ConnectError with two failures", err)
	}
	if !errors.Is(err, client.ErrAllBridgesFailed) || !errors.Is(err, session.ErrAuth) {
		t.Errorf("error %v should match ErrAllBridgesFailed and session.ErrAuth", err)
	}
	// Each failure names its bridge and says, in words a person can act on, what is
	// known of it.
	for i, want := range []struct {
		cause failure.Cause
		says  string
	}{
		{failure.Refused, "bridge 0 (tcp): the bridge refused the connection"},
		{failure.Auth, "bridge 1 (tcp): the server did not prove the bridge line's key"},
	} {
		var fe *failure.Error
		if !errors.As(ce.Failures[i], &fe) || fe.Cause != want.cause || !strings.Contains(ce.Failures[i].Error(), want.says) {
			t.Errorf("failure %d: %q (cause %v), want cause %v, saying %q", i, ce.Failures[i], fe, want.cause, want.says)
		}
	}
	// While the client waits to retry, a Dial answers at once with the same failures.
	st := c.Status()
	if st.Blocked == nil || st.Retry.IsZero() {
		t.Errorf("Status() = %+v, want the failures and when the next round starts", st)
	}
	_, again := c.Dial(ctx, "echo")
	if !errors.As(again, &ce) || len(ce.Failures) != 2 {
		t.Errorf("second Dial: %v, want the ConnectError again", again)
	}
}

func TestNewNamesTheBadBridge(t *testing.T) {
	good := bridge.Line{Transport: "tcp", Addr: "127.0.0.1:1"}
	typo := bridge.Line{Transport: "tpc", Addr: "127.0.0.1:1"}
	badArg := bridge.Line{Transport: "tcp", Addr: "127.0.0.1:1", Args: transports.Args{"fp": "chrome"}}
	for _, tc := range []struct {
		name    string
		bridges []bridge.Line
		want    string
	}{
		{"no bridges", nil, "no bridges"},
		{"unknown transport", []bridge.Line{good, typo}, `bridge 1: unknown transport "tpc"`},
		{"unknown argument", []bridge.Line{badArg}, "fp="},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := client.New(client.Config{Bridges: tc.bridges, Transports: registry(t)})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestCloseEndsStreamsAndLaterDials(t *testing.T) {
	checkLeaks(t)
	good := startGateway(t)[0]
	c, err := client.New(client.Config{Bridges: []bridge.Line{good}, Transports: registry(t),
		Network: func() string { return "test" }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), hangTimeout)
	defer cancel()
	conn, err := c.Dial(ctx, "echo")
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	c.Close()
	conn.SetReadDeadline(time.Now().Add(hangTimeout))
	if _, err := conn.Read(make([]byte, 1)); err == nil {
		t.Error("a stream read succeeded after Close")
	}
	if _, err := c.Dial(ctx, "echo"); !errors.Is(err, client.ErrClosed) {
		t.Errorf("Dial after Close: %v, want ErrClosed", err)
	}
}
