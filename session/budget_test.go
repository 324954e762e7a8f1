package session

import (
	"errors"
	"testing"
)

const kib = 1 << 10

// ended records the sessions a budget closes.
type ended chan string

func (e ended) open(b *Budget, name string) *account {
	return b.open(ID{}, func(err error) {
		if !errors.Is(err, ErrOverBudget) {
			name += " (for another reason: " + err.Error() + ")"
		}
		e <- name
	})
}

// A session's buffers count against the budget in the chunks that hold them, from the
// moment a chunk is taken until it is back in the pool, whoever returns it.
func TestBudgetCountsBuffersInChunks(t *testing.T) {
	b := NewBudget(1<<20, nil)
	a := b.open(ID{}, func(error) {})
	q := recvQueue{acct: a}
	var sb sendBuffer
	sb.acct = a
	payload := func(n int) (*[chunkSize]byte, int) { return chunkPool.Get().(*[chunkSize]byte), n }
	var popped recvChunk
	steps := []struct {
		what string
		do   func()
		want int64
	}{
		{"a first frame takes a chunk", func() { q.push(payload(100)) }, chunkSize},
		{"a small frame joins the last chunk", func() { q.push(payload(100)) }, chunkSize},
		{"a frame that does not fit takes another", func() { q.push(payload(maxMuxPayload)) }, 2 * chunkSize},
		{"reading the first chunk through frees it", func() { q.read(make([]byte, 200)) }, chunkSize},
		{"a popped chunk still counts", func() { popped = q.pop() }, chunkSize},
		{"until it is freed", func() { q.free(popped.buf) }, 0},
		{"release frees what is queued", func() { q.push(payload(10)); q.push(payload(maxMuxPayload)); q.release() }, 0},
		{"the send buffer takes a chunk per 16 KiB", func() { sb.append(make([]byte, 20*kib)) }, 2 * chunkSize},
		{"an ack frees the chunks below it", func() { sb.ack(chunkSize) }, chunkSize},
		{"a held chunk stays past its ack", func() { sb.hold(chunkSize); sb.ack(sb.end) }, chunkSize},
		{"and goes when unheld", func() { sb.unhold() }, 0},
		{"release frees the rest", func() { sb.append(make([]byte, 1)); sb.release() }, 0},
	}
	for _, s := range steps {
		s.do()
		if got := a.held.Load(); got != s.want {
			t.Fatalf("%s: the session holds %d bytes, want %d", s.what, got, s.want)
		}
		if got := b.Stats().Used; got != s.want {
			t.Fatalf("%s: the budget counts %d bytes, want %d", s.what, got, s.want)
		}
	}
}

// Past half its limit the budget slows the sessions holding more than their fair
// share (limit / sessions), and only those.
func TestBudgetSlowsOnlyTheSessionsOverTheirShare(t *testing.T) {
	const limit = 1200 * kib // three sessions: a share of 400 KiB
	tests := []struct {
		name               string
		hoarder, chat      int64
		wantTight          bool
		wantSlowed         bool // the hoarder; the chat session never is
		wantSlowedEpisodes uint64
	}{
		{"below half nobody is slowed", 550 * kib, 16 * kib, false, false, 0},
		{"past half the session over its share is slowed", 600 * kib, 16 * kib, true, true, 1},
		{"past half, sessions within their share are not", 390 * kib, 390 * kib, true, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			told := make(chan ID, 3)
			b := NewBudget(limit, func(id ID) { told <- id })
			hoarder, chat := b.open(ID{1}, func(error) {}), b.open(ID{2}, func(error) {})
			b.open(ID{3}, func(error) {}) // an idle session
			hoarder.take(int(tt.hoarder))
			chat.take(int(tt.chat))
			for range 3 { // asking again is not another episode
				if got := hoarder.tight(); got != tt.wantTight {
					t.Fatalf("tight with %d of %d bytes used: %v, want %v", b.Stats().Used, limit, got, tt.wantTight)
				}
				if got := hoarder.slowed(); got != tt.wantSlowed {
					t.Fatalf("session holding %d bytes slowed: %v, want %v", tt.hoarder, got, tt.wantSlowed)
				}
				if chat.slowed() {
					t.Fatalf("session holding %d bytes slowed, within its share", tt.chat)
				}
			}
			if got := b.Stats().Slowed; got != tt.wantSlowedEpisodes {
				t.Errorf("slowed %d times, want %d", got, tt.wantSlowedEpisodes)
			}
			for range tt.wantSlowedEpisodes {
				if id := <-told; id != (ID{1}) {
					t.Errorf("told that session %x was slowed, want the hoarder's", id[:1])
				}
			}
			hoarder.give(int(tt.hoarder))
			if hoarder.slowed() {
				t.Error("still slowed after its buffers drained")
			}
		})
	}
}

// Past the limit the budget closes the sessions holding the most, until the others
// fit, and never one within its fair share.
func TestBudgetClosesTheHeaviestOverTheLimit(t *testing.T) {
	tests := []struct {
		name       string
		held       map[string]int64 // taken in the order of names
		names      []string
		lowerTo    int64 // then SetLimit, if set
		wantClosed []string
	}{
		{
			name:       "the session holding the most is closed",
			names:      []string{"chat", "hoarder", "chat2"},
			held:       map[string]int64{"chat": 16 * kib, "hoarder": 1000 * kib, "chat2": 32 * kib},
			wantClosed: []string{"hoarder"},
		},
		{
			name:       "only as many as needed",
			names:      []string{"big", "bigger", "chat"},
			held:       map[string]int64{"big": 500 * kib, "bigger": 520 * kib, "chat": 16 * kib},
			wantClosed: []string{"bigger"},
		},
		{
			name:       "a lower limit closes the heaviest until the rest fit",
			names:      []string{"a", "b", "chat"},
			held:       map[string]int64{"a": 400 * kib, "b": 350 * kib, "chat": 100 * kib},
			lowerTo:    300 * kib,
			wantClosed: []string{"a", "b"},
		},
		{
			name:  "within the limit nobody is closed",
			names: []string{"a", "b"},
			held:  map[string]int64{"a": 900 * kib, "b": 100 * kib},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewBudget(1024*kib, nil)
			gone := make(ended, len(tt.names))
			accts := map[string]*account{}
			for _, n := range tt.names {
				accts[n] = gone.open(b, n)
			}
			for _, n := range tt.names {
				accts[n].take(int(tt.held[n]))
			}
			if tt.lowerTo > 0 {
				b.SetLimit(tt.lowerTo)
			}
			closed := map[string]bool{}
			for range tt.wantClosed {
				closed[<-gone] = true
			}
			for _, n := range tt.names {
				if got, want := accts[n].dropping(), closed[n]; got != want {
					t.Errorf("session %s holding %d bytes: closed %v, want %v", n, tt.held[n], got, want)
				}
			}
			if got := b.Stats().Closed; got != uint64(len(tt.wantClosed)) {
				t.Errorf("closed %d sessions, want %d (%v)", got, len(tt.wantClosed), tt.wantClosed)
			}
			for n := range closed {
				if !accts[n].slowed() {
					t.Errorf("session %s, being closed, is not held back", n)
				}
				accts[n].give(int(tt.held[n]))
				accts[n].close()
			}
			accts[tt.names[len(tt.names)-1]].take(chunkSize) // the next arrival closes no one more
			if got := b.Stats().Closed; got != uint64(len(tt.wantClosed)) {
				t.Errorf("after the closed sessions released their buffers, %d closed, want %d", got, len(tt.wantClosed))
			}
		})
	}
}
