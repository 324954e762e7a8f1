package session

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestSlotsByDistance(t *testing.T) {
	tests := []struct {
		now  uint64
		want []uint64
	}{
		{now: 600, want: []uint64{10, 11, 9, 12, 8}},           // the start of slot 10
		{now: 659, want: []uint64{10, 11, 9, 12, 8}},           // its end: now+120 is in slot 12
		{now: 630, want: []uint64{10, 11, 9, 12, 8}},           // its middle
		{now: 60, want: []uint64{1, 2, 0, 3}},                  // no slot before 0
		{now: 0, want: []uint64{0, 1, 2}},                      // the epoch
		{now: 1<<40 + 5, want: slotsAround(slotOf(1<<40 + 5))}, // far from the epoch
	}
	for _, tt := range tests {
		got := slotsByDistance(nil, tt.now)
		if !slices.Equal(got, tt.want) {
			t.Errorf("slotsByDistance(%d) = %v, want %v", tt.now, got, tt.want)
		}
		// Whatever the order, it is every slot that overlaps now ± freshness, once.
		window := uint64(freshness.Seconds())
		var all []uint64
		for s := slotOf(tt.now - min(tt.now, window)); s <= slotOf(tt.now+window); s++ {
			all = append(all, s)
		}
		sorted := slices.Sorted(slices.Values(got))
		if !slices.Equal(sorted, all) {
			t.Errorf("slotsByDistance(%d) covers %v, want %v", tt.now, sorted, all)
		}
	}
}

func slotsAround(cur uint64) []uint64 { return []uint64{cur, cur + 1, cur - 1, cur + 2, cur - 2} }

// TestMarksGiveTheMarksOfAFreshMarker: a marker taken from Marks, the first time or
// later, from many goroutines at once, computes what a freshly keyed one does; and a
// Marks that has seen maxMarks secrets starts over without losing any.
func TestMarksGiveTheMarksOfAFreshMarker(t *testing.T) {
	var marks Marks
	random, endpoint := randomBytes(randomSize), appendEndpoint(nil, testEndpoint)
	check := func(s Secret, slot uint64) error {
		fresh, err := newMarker(&s)
		if err != nil {
			return err
		}
		cached, err := marks.marker(&s)
		if err != nil {
			return err
		}
		if got, want := cached.mark(random, slot, endpoint), fresh.mark(random, slot, endpoint); got != want {
			return fmt.Errorf("secret %x slot %d: cached marker gives %x, a fresh one %x", s[:2], slot, got, want)
		}
		return nil
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8*3*(maxMarks+5))
	for g := range 8 {
		wg.Go(func() {
			for i := range maxMarks + 5 {
				for slot := range uint64(3) {
					errs <- check(testSecret(byte(i)), uint64(g)+slot)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := len(marks.keyed); n > maxMarks {
		t.Errorf("Marks holds %d secrets, want at most %d", n, maxMarks)
	}
}

// TestHandshakeAcrossTheFreshnessWindow: a client whose clock is off by up to the
// freshness window in either direction is found, by a gateway that keeps Marks and by
// one that derives them for each hello, at whatever place its slot has in the order.
func TestHandshakeAcrossTheFreshnessWindow(t *testing.T) {
	gatewayNow := time.Unix(1_800_000_030, 0)
	for _, skew := range []time.Duration{-freshness + time.Second, -time.Minute, 0, time.Minute, freshness - time.Second} {
		for _, cached := range []bool{true, false} {
			t.Run(fmt.Sprintf("skew %v, marks kept %v", skew, cached), func(t *testing.T) {
				cc, sc := testConfigs()
				if !cached {
					sc.Marks = nil
				}
				sc.Now = func() time.Time { return gatewayNow }
				cc.Now = func() time.Time { return gatewayNow.Add(skew) }
				mustHandshake(t, carriers[0], cc, sc)
			})
		}
	}
}
