package transporttest

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/transports"
)

func runLab(t *testing.T, l lab) {
	Run(t, func(t *testing.T) (transports.Listener, transports.Dialer) {
		ln, err := l.listen()
		if err != nil {
			t.Fatalf("lab listen: %v", err)
		}
		return ln, l.dialer(ln.Addr().String())
	}, Options{
		DialerTo: func(t *testing.T, addr string) transports.Dialer { return l.dialer(addr) },
		// The lab's client sends its hello byte without waiting for an answer.
		NoHandshake: true,
	})
}

// TestLabTransportPasses is the control for TestSuiteCatchesDefects: without defects
// the lab transport passes, so each failure there comes from the defect.
func TestLabTransportPasses(t *testing.T) {
	runLab(t, lab{})
}

// defectEnv names the defect TestDefective builds in when run as a child process.
const defectEnv = "TRANSPORTTEST_DEFECT"

var labDefects = map[string]defects{
	"ignoreReadDeadline":     {ignoreReadDeadline: true},
	"corruptAfter":           {corruptAfter: 1 << 19},
	"dialIgnoresCtx":         {dialIgnoresCtx: true},
	"acceptBlocksAfterClose": {acceptBlocksAfterClose: true},
	"acceptErrNotClosed":     {acceptErrNotClosed: true},
	"leakPerConn":            {leakPerConn: true},
	"noCloseWrite":           {noCloseWrite: true},
	"writeAfterClose":        {writeAfterClose: true},
	"closeKillsConns":        {closeKillsConns: true},
	"serialHandshake":        {serialHandshake: true},
}

// TestDefective runs the suite on a lab transport with the defect named in
// $TRANSPORTTEST_DEFECT; it is meant to fail, as a child of TestSuiteCatchesDefects.
func TestDefective(t *testing.T) {
	name := os.Getenv(defectEnv)
	if name == "" {
		t.Skip("runs only as a child process of TestSuiteCatchesDefects")
	}
	d, ok := labDefects[name]
	if !ok {
		t.Fatalf("unknown defect %q", name)
	}
	hangTimeout = 2 * time.Second // the defects hang; fail fast
	runLab(t, lab{d})
}

// TestSuiteCatchesDefects runs the suite on transports that each break one property,
// and checks that the subtest for that property fails.
func TestSuiteCatchesDefects(t *testing.T) {
	tests := []struct {
		defect   string
		wantFail string // the subtest under TestDefective that must fail, as go test names it
	}{
		{"ignoreReadDeadline", "Deadlines/past_read_deadline_times_out_Read"},
		{"ignoreReadDeadline", "Deadlines/SetDeadline_unblocks_a_blocked_Read"},
		{"corruptAfter", "LargeTransfer"},
		{"dialIgnoresCtx", "DialContext/connect_stalls/cancel"},
		{"dialIgnoresCtx", "DialContext/already_cancelled"},
		{"acceptBlocksAfterClose", "Listener/Close_unblocks_Accept"},
		{"acceptErrNotClosed", "Listener/Accept_after_Close_fails"},
		{"leakPerConn", "RoundTrip"},
		{"noCloseWrite", "HalfClose/client_closes_write"},
		{"writeAfterClose", "Close/Write_after_own_Close_fails"},
		{"closeKillsConns", "Listener/accepted_conns_outlive_listener_Close"},
		{"serialHandshake", "Listener/silent_and_garbage_clients_do_not_block_Accept"},
	}
	// The children mostly wait out hangs; a few at a time keeps the shared cores free.
	slots := make(chan struct{}, 6)
	for _, tt := range tests {
		t.Run(tt.defect+"/"+tt.wantFail, func(t *testing.T) {
			t.Parallel()
			slots <- struct{}{}
			out := runChild(tt.defect, tt.wantFail)
			<-slots
			want := "--- FAIL: TestDefective/" + tt.wantFail + " "
			if !strings.Contains(out, want) {
				t.Errorf("suite run on a transport with defect %s: no line %q in its output:\n%s", tt.defect, want, out)
			}
		})
	}
}

// runChild runs TestDefective/subtest in a new process of this test binary and returns
// its output; the child must fail.
func runChild(defect, subtest string) string {
	pattern := "^TestDefective$"
	for _, part := range strings.Split(subtest, "/") {
		pattern += "/^" + regexp.QuoteMeta(part) + "$"
	}
	// -test.short keeps the large transfer small: the child's short hangTimeout is
	// meant for defects that hang, not for a slow machine.
	cmd := exec.Command(os.Args[0], "-test.run="+pattern, "-test.v", "-test.count=1", "-test.short")
	cmd.Env = append(os.Environ(), defectEnv+"="+defect)
	out, err := cmd.CombinedOutput()
	if err == nil {
		return "child passed; want a failure:\n" + string(out)
	}
	if _, ok := err.(*exec.ExitError); !ok {
		return "child did not run: " + err.Error()
	}
	return string(out)
}
