package deadline

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

func TestDeadline(t *testing.T) {
	tests := []struct {
		name   string
		set    time.Time
		passed bool
	}{
		{"none", time.Time{}, false},
		{"in the past", time.Now().Add(-time.Second), true},
		{"far ahead", time.Now().Add(time.Hour), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d Deadline
			d.Set(tt.set)
			if d.Passed() != tt.passed {
				t.Fatalf("Passed() = %v, want %v", d.Passed(), tt.passed)
			}
			select {
			case <-d.Done():
				if !tt.passed {
					t.Fatal("Done closed for a deadline that has not passed")
				}
			default:
				if tt.passed {
					t.Fatal("Done open for a deadline that passed")
				}
			}
		})
	}
}

func TestDeadlinePassesAndAborts(t *testing.T) {
	var d Deadline
	aborted := make(chan struct{})
	if !d.Arm(func() { close(aborted) }) {
		t.Fatal("Arm refused before any deadline")
	}
	d.Set(time.Now().Add(10 * time.Millisecond))
	select {
	case <-d.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("deadline never passed")
	}
	<-aborted
	if d.Arm(func() {}) {
		t.Fatal("Arm accepted after the deadline passed")
	}
	d.Set(time.Time{}) // cleared: usable again
	if d.Passed() || !d.Arm(func() {}) {
		t.Fatal("a cleared deadline still counts as passed")
	}
}

func TestEarlierTimerDoesNotFireAfterReset(t *testing.T) {
	var d Deadline
	d.Set(time.Now().Add(5 * time.Millisecond))
	d.Set(time.Now().Add(time.Hour))
	time.Sleep(50 * time.Millisecond) // the first timer's moment goes by
	if d.Passed() {
		t.Fatal("a timer from an earlier Set passed the new deadline")
	}
}

func TestTimeoutErrorIsANetTimeout(t *testing.T) {
	err := TimeoutError("read", "meek")
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("%v is not a net timeout wrapping os.ErrDeadlineExceeded", err)
	}
}
