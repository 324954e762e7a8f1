package clientcmd

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/client"
	"github.com/umbrella-edge/edge/client/failure"
)

// What the client prints for a person says what happened in words they can act on.
func TestEventLineTellsAPerson(t *testing.T) {
	website := &failure.Error{Cause: failure.Website, Step: failure.StepSession, Err: errors.New("no answer")}
	for _, tc := range []struct {
		e    client.Event
		want string
	}{
		{client.Event{Kind: client.EventClock, Skew: 10 * time.Minute}, "clock is 10 minutes behind"},
		{client.Event{Kind: client.EventClock}, "clock is right again"},
		{client.Event{Kind: client.EventLost, Name: "utls", Bridge: 2, Err: website}, "answered as a website"},
		{client.Event{Kind: client.EventAttempt}, ""},
	} {
		got := eventLine(tc.e, 9)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%v: %q, want it to say %q", tc.e.Kind, got, tc.want)
		}
	}
}
