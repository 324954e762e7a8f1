package session

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/umbrella-edge/edge/internal/replay"
)

// A hello the replay cache cannot check (a store that cannot be reached, a journal
// that cannot be written: here a closed filter) may be a replay, so it gets what
// garbage gets: nothing written, every byte read handed back.
func TestHelloTheReplayCacheCannotCheckGetsNothing(t *testing.T) {
	for _, c := range carriers {
		t.Run(c.name, func(t *testing.T) {
			cc, sc := testConfigs()
			broken := replay.New(replay.Config{})
			broken.Close()
			sc.Replay = broken
			hello := craftHello(t, cc)
			so := startServer(t, c, context.Background(), sc)
			go so.client.Write(hello)
			err := so.wait(t)
			if got := helloReason(err); got != "unchecked" || !errors.Is(err, replay.ErrClosed) {
				t.Errorf("Server: %v, reason %q; want reason \"unchecked\" wrapping the cache's error", err, got)
			}
			if n := so.written.Load(); n != 0 {
				t.Errorf("gateway wrote %d bytes to a hello it could not check; want none", n)
			}
			if got := consumed(err); !bytes.Equal(got, hello) {
				t.Errorf("Consumed holds %d bytes; want the %d of the hello", len(got), len(hello))
			}
		})
	}
}
