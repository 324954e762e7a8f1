package gateway_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/umbrella-edge/edge/gateway"
	"github.com/umbrella-edge/edge/gateway/limits"
	"github.com/umbrella-edge/edge/session"
)

// The probe service echoes what a stream sends, byte for byte, to the session that
// sent it, and reaches nothing else.
func TestProbeServiceEchoes(t *testing.T) {
	f := newFixture(t, nil)
	conn, err := dial(t, f.client(t, f.bridge), limits.ProbeService)
	if err != nil {
		t.Fatalf("Dial(%s): %v", limits.ProbeService, err)
	}
	defer conn.Close()
	sent := make([]byte, 100<<10) // past a freeze's 20 KB, within a session's burst
	rand.Read(sent)
	go conn.Write(sent)
	got := make([]byte, len(sent))
	if _, err := io.ReadFull(conn, got); err != nil || !bytes.Equal(got, sent) {
		t.Fatalf("echo of %d bytes: %v, equal %v", len(sent), err, bytes.Equal(got, sent))
	}
	if m := f.metrics(t); !strings.Contains(m, `umbrella_gateway_streams_total{result="ok",service="probe"} 1`) {
		t.Errorf("the probe stream is not counted:\n%s", grep(m, "streams_total"))
	}
}

func TestProbeServiceCanBeTurnedOff(t *testing.T) {
	f := newFixture(t, func(c *gateway.Config) { c.Probe.Off = true })
	if _, err := dial(t, f.client(t, f.bridge), limits.ProbeService); !errors.Is(err, session.ErrUnknownService) {
		t.Fatalf("Dial(%s) with the service off: %v, want ErrUnknownService", limits.ProbeService, err)
	}
}

// A session holds at most two probe streams at once: a probe needs one, and more
// would only multiply what one bridge line can make the gateway echo.
func TestProbeStreamsPerSessionAreBounded(t *testing.T) {
	f := newFixture(t, nil)
	c := f.client(t, f.bridge)
	for i := range 2 {
		conn, err := dial(t, c, limits.ProbeService)
		if err != nil {
			t.Fatalf("probe stream %d: %v", i, err)
		}
		defer conn.Close()
		// An echo proves the gateway holds the stream's place before the next asks.
		conn.Write([]byte{1})
		if _, err := io.ReadFull(conn, make([]byte, 1)); err != nil {
			t.Fatalf("probe stream %d: echo: %v", i, err)
		}
	}
	if _, err := dial(t, c, limits.ProbeService); !errors.Is(err, session.ErrStreamLimit) {
		t.Fatalf("a third probe stream: %v, want ErrStreamLimit", err)
	}
	if _, err := dial(t, c, "echo"); err != nil {
		t.Errorf("a stream to another service after the probe's limit: %v", err)
	}
}

func TestConfigCannotNameTheProbeService(t *testing.T) {
	_, err := gateway.Listen(t.Context(), gateway.Config{
		Identity: make([]byte, 64), Secrets: make([]session.Secret, 1),
		Listeners: []gateway.ListenerConfig{{}}, Services: map[string]string{limits.ProbeService: "127.0.0.1:7001"},
	})
	if err == nil || !strings.Contains(err.Error(), `"probe" is the gateway's own`) {
		t.Fatalf("Listen with a service named probe: %v; want it refused", err)
	}
}
