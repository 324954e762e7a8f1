package gateway

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/umbrella-edge/edge/internal/replay"
	"github.com/umbrella-edge/edge/session"
)

// replayJournal is the file in the state directory through which the replay cache
// outlives the process: a restarted gateway answers no hello its last run answered
// (docs/protocol.md, "Replay cache").
const replayJournal = "replay.journal"

// openReplayCache returns the gateway's replay cache: kept in a journal in stateDir,
// or in memory alone without one. One gateway process at a time holds a journal.
func openReplayCache(stateDir string) (session.ReplayCache, error) {
	if stateDir == "" {
		return session.NewReplayCache(0), nil
	}
	c, err := replay.Open(filepath.Join(stateDir, replayJournal), replay.Config{})
	if errors.Is(err, replay.ErrInUse) {
		return nil, fmt.Errorf("gateway: state directory %s is in use by another gateway: each process needs its own: %w", stateDir, err)
	}
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	return c, nil
}

// closeReplay writes out and releases the replay cache's journal, if it has one.
func (g *Gateway) closeReplay() {
	if c, ok := g.journal.(io.Closer); ok {
		if err := c.Close(); err != nil {
			g.log.Error("replay cache", "err", err)
		}
	}
}
