package meek

import (
	"bytes"
	"math/rand/v2"
	"net"
	"testing"
	"testing/synctest"
)

// TestWaitingReadsDoNotWakeEachOther: Reads that share a conn and wait on an empty
// queue must settle after a change that gives them nothing. When every waking Read
// announced its starvation again, two Reads woke each other for ever, and with one P
// the carrier that had their bytes never ran (the meek conformance suite's
// ConcurrentMethods took up to a minute under GOMAXPROCS=1). With that bug this test
// does not settle, and the package's test timeout reports the Reads' stacks.
func TestWaitingReadsDoNotWakeEachOther(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}
		p := newPipe(addr, addr)
		const readers = 3
		results := make(chan error, readers)
		for range readers {
			go func() {
				_, err := p.Read(make([]byte, 16))
				results <- err
			}()
		}
		synctest.Wait()

		p.mu.Lock()
		if p.starved != readers {
			t.Errorf("%d Reads wait, want %d", p.starved, readers)
		}
		p.notifyLocked() // a change that brings no bytes, as a deadline reset does
		after := p.changed
		p.mu.Unlock()
		synctest.Wait() // every Read woke, found nothing, and waits again

		p.mu.Lock()
		if p.changed != after {
			t.Error("a waking Read announced a change that nothing made")
		}
		if p.starved != readers {
			t.Errorf("%d Reads wait after the change, want %d", p.starved, readers)
		}
		p.mu.Unlock()

		p.deliver([]byte("data"), endClose)
		for range readers {
			<-results // the data, then the end, for each Read
		}
	})
}

// TestByteQueueIsAFIFOThatHoldsNothingIdle pushes and pops runs of every size around
// the chunk boundary and compares with bytes.Buffer; whenever the queue empties it
// must hold no chunk.
func TestByteQueueIsAFIFOThatHoldsNothingIdle(t *testing.T) {
	sizes := []int{0, 1, 100, queueChunk - 1, queueChunk, queueChunk + 1, 3*queueChunk + 7, maxRequestBody}
	rng := rand.New(rand.NewPCG(1, 2))
	var q byteQueue
	var want bytes.Buffer
	next := byte(0)
	for range 2000 {
		if rng.IntN(2) == 0 {
			b := make([]byte, sizes[rng.IntN(len(sizes))])
			for i := range b {
				b[i], next = next, next+1
			}
			q.push(b)
			want.Write(b)
		} else {
			got := make([]byte, sizes[rng.IntN(len(sizes))])
			n := q.pop(got)
			exp := want.Next(len(got))
			if !bytes.Equal(got[:n], exp) {
				t.Fatalf("popped %d bytes that differ from the %d pushed in their place", n, len(exp))
			}
		}
		if q.len() != want.Len() {
			t.Fatalf("len() = %d; want %d", q.len(), want.Len())
		}
		if q.len() == 0 && q.chunks != nil {
			t.Fatalf("an empty queue holds %d chunks", len(q.chunks))
		}
	}
}
