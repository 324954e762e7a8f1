package session

import (
	"time"

	"github.com/umbrella-edge/edge/internal/replay"
)

// DefaultReplayEntries is the replay cache's bound when NewReplayCache is given 0. An
// entry lives at most twice the freshness window (four minutes), so this covers
// about 1 000 handshakes a second; an entry costs about 100 bytes.
const DefaultReplayEntries = replay.DefaultMax

// NewReplayCache returns a ReplayCache that lives in this process's memory, holding at
// most max entries (0 means DefaultReplayEntries). A restart forgets it: a gateway with
// a state directory keeps a journal instead (docs/protocol.md, "Replay cache").
//
// When full, it forgets its oldest entry. Only a peer holding a bridge secret can
// fill it, since the gateway adds authentic hellos only, and such a peer gains
// nothing from a replay that a fresh hello would not give it; a censor without the
// secret cannot evict the hello it wants to replay.
func NewReplayCache(max int) ReplayCache {
	return replay.New(replay.Config{Max: max})
}

// replayExpiry is how long a hello stamped ts must be remembered: until no gateway
// would find it fresh, plus a second for the timestamp's truncation.
func replayExpiry(ts uint64) time.Time {
	return time.Unix(int64(ts), 0).Add(freshness + time.Second)
}
