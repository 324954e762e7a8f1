package client_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/client"
)

// With every bridge refusing, the client retries in rounds spaced 1 s, 2 s, 4 s, …
// up to 60 s, each drawn from [d/2, d]: in 10 minutes of (fake) time it neither spins
// nor stops.
func TestAllBridgesBlockedRetriesWithBackoff(t *testing.T) {
	key, _, _ := ed25519.GenerateKey(rand.Reader)
	model := bridge.Line{Transport: "tcp", Key: key}
	bridges := []bridge.Line{refusedBridge(t, model), refusedBridge(t, model), refusedBridge(t, model)}
	synctest.Test(t, func(t *testing.T) {
		type round struct {
			at    time.Time
			retry time.Duration
		}
		var (
			mu       sync.Mutex
			rounds   []round
			attempts int
		)
		c, err := client.New(client.Config{
			Bridges: bridges, Transports: registry(t), Network: func() string { return "test" },
			OnEvent: func(e client.Event) {
				mu.Lock()
				defer mu.Unlock()
				switch e.Kind {
				case client.EventAttempt:
					attempts++
				case client.EventBlocked:
					rounds = append(rounds, round{time.Now(), e.Retry})
				}
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		err = c.Connect(context.Background())
		var ce *client.ConnectError
		if !errors.As(err, &ce) || len(ce.Failures) != 3 {
			t.Fatalf("Connect: %v, want a ConnectError naming 3 bridges", err)
		}
		const window = 10 * time.Minute
		time.Sleep(window)
		c.Close()
		synctest.Wait()

		mu.Lock()
		defer mu.Unlock()
		if attempts != 3*len(rounds) {
			t.Errorf("%d attempts in %d rounds, want every bridge once a round", attempts, len(rounds))
		}
		ceiling := time.Second
		for i, r := range rounds {
			if r.retry < ceiling/2 || r.retry > ceiling {
				t.Errorf("round %d: retry in %v, want within [%v, %v]", i, r.retry, ceiling/2, ceiling)
			}
			if i > 0 && r.at.Sub(rounds[i-1].at) != rounds[i-1].retry {
				t.Errorf("round %d came %v after the one before, which said %v", i, r.at.Sub(rounds[i-1].at), rounds[i-1].retry)
			}
			ceiling = min(2*ceiling, time.Minute)
		}
		// Longest waits (1, 2, …, 32 s, then 60 s): rounds at 0, 1, 3, …, 63 s and every
		// minute after, 15 in 10 minutes. Shortest (half of each): 25.
		if n := len(rounds); n < 15 || n > 26 {
			t.Errorf("%d rounds in %v, want between 15 and 26", n, window)
		}
		if last := rounds[len(rounds)-1].at; start.Add(window).Sub(last) > time.Minute {
			t.Errorf("the last round was %v before the end: the client gave up", start.Add(window).Sub(last))
		}
	})
}
