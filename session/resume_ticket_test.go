package session

import (
	"fmt"
	"testing"
)

// TestTicketBookHonoursWhatTheClientMayHold walks the gateway's tickets through
// orders of events a client under load produces: resumes it gave up on whose hellos
// arrive late, answers it never read, first frames that come after another resume.
func TestTicketBookHonoursWhatTheClientMayHold(t *testing.T) {
	// A step redeems ticket from for ticket to (ok: honoured), or, with confirm,
	// delivers the client's first frame on the carrier ticket to came on.
	type step struct {
		from, to int
		ok       bool
		confirm  bool
	}
	redeem := func(from, to int, ok bool) step { return step{from: from, to: to, ok: ok} }
	heard := func(on int) step { return step{to: on, confirm: true} }
	cases := []struct {
		name  string
		steps []step
	}{
		{"a new session's ticket, before its first frame", []step{redeem(0, 1, true)}},
		{"a new session's ticket, after its first frame", []step{heard(0), redeem(0, 1, true)}},
		{"the ticket held, after an answer the client never read", []step{
			heard(0), redeem(0, 1, true), redeem(0, 2, true), redeem(2, 3, true),
		}},
		{"the ticket the client read, after a late hello with the ticket before", []step{
			heard(0), redeem(0, 2, true), redeem(0, 1, true), redeem(2, 3, true),
		}},
		{"a late hello after the client was heard on its new ticket's carrier", []step{
			heard(0), redeem(0, 2, true), heard(2), redeem(0, 1, false), redeem(2, 3, true),
		}},
		{"a ticket presented spends the one before it and those beside it", []step{
			heard(0), redeem(0, 1, true), redeem(0, 2, true), redeem(2, 3, true),
			redeem(0, 4, false), redeem(1, 4, false), redeem(3, 4, true),
		}},
		{"a frame on a carrier whose ticket was spent spends nothing", []step{
			heard(0), redeem(0, 1, true), redeem(0, 2, true), redeem(2, 3, true), heard(1), redeem(2, 4, true),
		}},
		{"a ticket that was never issued", []step{heard(0), redeem(9, 1, false), redeem(0, 1, true)}},
		{"a ticket is spent once the next is heard", []step{heard(0), redeem(0, 1, true), heard(1), redeem(0, 2, false), redeem(1, 2, true)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var b ticketBook
			confirms := map[int]func(){0: b.start(secretNo(0))}
			for i, s := range tc.steps {
				if s.confirm {
					confirms[s.to]()
					continue
				}
				confirm, ok := b.redeem(secretNo(s.from), secretNo(s.to))
				if ok != s.ok {
					t.Fatalf("step %d: ticket %d for %d honoured: %v, want %v", i, s.from, s.to, ok, s.ok)
				}
				if ok {
					confirms[s.to] = confirm
				}
			}
		})
	}
}

// TestTicketBookKeepsTheNewestIssued: past maxIssued answers to the ticket held, the
// oldest is spent and the newest are honoured.
func TestTicketBookKeepsTheNewestIssued(t *testing.T) {
	var b ticketBook
	b.start(secretNo(0))()
	for i := 1; i <= maxIssued+1; i++ {
		if _, ok := b.redeem(secretNo(0), secretNo(i)); !ok {
			t.Fatalf("answer %d to the ticket held refused", i)
		}
	}
	for i, want := range map[int]bool{1: false, 2: true, maxIssued + 1: true} {
		var probe ticketBook
		probe.held, probe.issued = b.held, append([][32]byte(nil), b.issued...)
		if _, ok := probe.redeem(secretNo(i), secretNo(100)); ok != want {
			t.Errorf("ticket %d of %d issued honoured: %v, want %v", i, maxIssued+1, ok, want)
		}
	}
}

func secretNo(i int) *[32]byte {
	var rs [32]byte
	copy(rs[:], fmt.Sprintf("ticket %d", i))
	return &rs
}
