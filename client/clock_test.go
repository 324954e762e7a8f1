package client_test

import (
	"errors"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/client"
	"github.com/umbrella-edge/edge/client/failure"
)

// A device whose clock is minutes off has its hellos ignored by the gateway, which
// answers a utls carrier as a website, with the website's Date. The client tries that
// bridge again with the Date's time, connects, and says how far off the clock is.
func TestClockOffIsCorrectedFromTheGatewaysDate(t *testing.T) {
	for _, off := range []time.Duration{-10 * time.Minute, 3 * time.Hour} {
		t.Run(failure.SkewText(-off), func(t *testing.T) {
			bridges := startGateway(t, "utls")
			rec := newRecorder()
			c, err := client.New(client.Config{Bridges: bridges, Transports: registry(t), OnEvent: rec.on,
				Network: func() string { return "test" }, Now: func() time.Time { return time.Now().Add(off) }})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			echo(t, c, []byte("with the gateway's time"))
			failed := rec.waitFor(t, client.EventFailed)
			var fe *failure.Error
			if !errors.As(failed.Err, &fe) || fe.Cause != failure.ClockOff {
				t.Errorf("the first attempt failed with %v, want the clock named", failed.Err)
			}
			clk := rec.waitFor(t, client.EventClock)
			// The Date header has a one-second resolution, and the attempt took a moment.
			if d := clk.Skew + off; d < -5*time.Second || d > 5*time.Second {
				t.Errorf("EventClock says the clock is %v off, want about %v", clk.Skew, -off)
			}
			if st := c.Status(); st.ClockOff != clk.Skew {
				t.Errorf("Status().ClockOff = %v, want %v", st.ClockOff, clk.Skew)
			}
		})
	}
}

// A clock within what the gateway accepts is left alone: no retry, no correction.
func TestClockWithinToleranceIsLeftAlone(t *testing.T) {
	bridges := startGateway(t, "utls")
	rec := newRecorder()
	c, err := client.New(client.Config{Bridges: bridges, Transports: registry(t), OnEvent: rec.on,
		Network: func() string { return "test" }, Now: func() time.Time { return time.Now().Add(-40 * time.Second) }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	echo(t, c, []byte("on the device's time"))
	for _, e := range rec.all() {
		if e.Kind == client.EventClock || e.Kind == client.EventFailed {
			t.Errorf("a %v event with a clock 40 s off\nevents: %s", e.Kind, describe(rec.all()))
		}
	}
}
