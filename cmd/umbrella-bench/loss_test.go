package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/transports/all"
)

// TestLossChildServesItsBackendsAndBridges runs the loss step's namespace child on
// loopback, as the step runs it in the namespace: it answers its setup with raw TCP
// backends and a bridge line per transport, each path carries an echo and a download,
// and it exits when its stdin closes.
func TestLossChildServesItsBackendsAndBridges(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // only against hangs
	defer cancel()
	setupR, setupW := io.Pipe()
	readyR, readyW := io.Pipe()
	exited := make(chan error, 1)
	go func() { exited <- runLossChild(ctx, setupR, readyW) }()
	if err := json.NewEncoder(setupW).Encode(lossChildSetup{Listen: "127.0.0.1", Transports: []string{"tcp", "quic"}}); err != nil {
		t.Fatal(err)
	}
	var ready lossChildReady
	if err := json.NewDecoder(readyR).Decode(&ready); err != nil {
		t.Fatalf("read the child's answer: %v", err)
	}
	if len(ready.Bridges) != 2 || !strings.HasPrefix(ready.Bridges[0], "tcp 127.0.0.1:") || !strings.HasPrefix(ready.Bridges[1], "quic 127.0.0.1:") {
		t.Fatalf("bridge lines %q; want a tcp and a quic line on 127.0.0.1", ready.Bridges)
	}

	reg := all.Registry()
	defer reg.Close()
	paths, err := lossPaths(&bench{inProcess: &inProcess{registry: reg}}, ready)
	if err != nil {
		t.Fatal(err)
	}
	for _, pt := range paths {
		t.Run(pt.name, func(t *testing.T) {
			defer pt.done()
			s, err := measureLossPath(ctx, newProgress(io.Discard), pt)
			if err != nil {
				t.Fatal(err)
			}
			if s.mbps <= 0 || len(s.trips) != lossMessages {
				t.Fatalf("%.1f MB/s and %d round trips; want bytes downloaded and %d round trips", s.mbps, len(s.trips), lossMessages)
			}
			t.Logf("%s on loopback: %.0f MB/s, %s", pt.name, s.mbps, s.trips.p50p99())
		})
	}

	setupW.Close()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("child: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("the child did not exit when its stdin closed")
	}
}

func TestLossRowsSayWhatWasNotMeasured(t *testing.T) {
	why := errors.New("no lossy link on this machine: needs root")
	rows := notMeasured([]string{"quic", "tcp"}, why)
	if want := (len(lossRates) - 1) * 3; len(rows) != want {
		t.Fatalf("%d rows; want %d: raw TCP, quic and tcp at each loss rate", len(rows), want)
	}
	for _, r := range rows {
		if r.result != "not measured" || r.how != why.Error() || strings.Contains(r.measure, "no loss") {
			t.Fatalf("row %+v; want 'not measured' under a loss rate, saying why", r)
		}
	}
}
