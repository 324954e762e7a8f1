package meek

import (
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
