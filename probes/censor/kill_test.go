package censor

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestKillFreezeDropsOnlyServerToClient: after a freeze the client's bytes still reach
// the server, nothing of the server's reaches the client, both sockets stay open, and
// other flows carry on.
func TestKillFreezeDropsOnlyServerToClient(t *testing.T) {
	heard := make(chan string, 16)
	// The server echoes and tells the test what it heard, so the test sees both ways.
	tellingEcho := func(conn net.Conn) {
		buf := make([]byte, 1024)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			heard <- string(buf[:n])
			if _, err := conn.Write(buf[:n]); err != nil {
				return
			}
		}
	}
	c := startCensor(t, []Route{
		tcpRoute("a", "obfs4", startServer(t, "127.0.0.2", tellingEcho)),
		tcpRoute("b", "utls", startServer(t, "127.0.0.2", echo)),
	})
	victim, bystander := dial(t, listenAddr(t, c, "a")), dial(t, listenAddr(t, c, "b"))
	for _, conn := range []net.Conn{victim, bystander} {
		if err := pingPong(conn); err != nil {
			t.Fatal(err)
		}
	}
	if got := <-heard; got != "ping" {
		t.Fatalf("server heard %q before the freeze; want ping", got)
	}

	n, err := c.Kill(Selector{Transport: "obfs4"}, KillFreeze)
	if err != nil || n != 1 {
		t.Fatalf("Kill(freeze) = %d, %v; want 1 flow", n, err)
	}
	if _, err := victim.Write([]byte("after")); err != nil {
		t.Fatalf("write after a freeze: %v; want the socket open", err)
	}
	if got := <-heard; got != "after" {
		t.Fatalf("server heard %q after the freeze; want the client's bytes to pass", got)
	}
	expectSilence(t, victim)
	st := waitFlow(t, c, func(st FlowStatus) bool { return st.Dropped == int64(len("after")) })
	if !st.Frozen || st.Stopped || st.ServerToClient != 4 || st.ClientToServer != 4+5 {
		t.Fatalf("flow status %+v; want frozen and running, 9 bytes up, 4 down, the echo of after dropped", st)
	}
	if err := pingPong(bystander); err != nil {
		t.Fatalf("the other transport's flow was frozen too: %v", err)
	}
	waitDecision(t, c, func(d Decision) bool { return d.Policy == "kill" && d.Verdict == Frozen && d.Flow.Transport == "obfs4" })

	if n, err := c.Kill(Selector{Transport: "obfs4"}, KillFreeze); err != nil || n != 0 {
		t.Fatalf("freezing a frozen flow again = %d, %v; want 0 flows", n, err)
	}
	// A frozen flow can still be cut altogether.
	if n, err := c.Kill(Selector{Transport: "obfs4"}, KillReset); err != nil || n != 1 {
		t.Fatalf("Kill(reset) of a frozen flow = %d, %v; want 1 flow", n, err)
	}
}

func TestAdminFreezes(t *testing.T) {
	c := startCensor(t, []Route{tcpRoute("a", "obfs4", startServer(t, "127.0.0.2", echo))})
	admin := httptest.NewServer(c.AdminHandler())
	defer admin.Close()
	conn := dial(t, listenAddr(t, c, "a"))
	if err := pingPong(conn); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(admin.URL+"/kill?route=a&mode=freeze", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"killed": 1`) {
		t.Fatalf("/kill mode=freeze answered %s", body)
	}
	if _, err := conn.Write([]byte("ping")); err != nil {
		t.Fatalf("write after /kill mode=freeze: %v", err)
	}
	expectSilence(t, conn)
	var flows []FlowStatus
	getJSON(t, admin.URL+"/flows", &flows)
	if len(flows) != 1 || !flows[0].Frozen || flows[0].Stopped {
		t.Fatalf("/flows = %+v; want the one flow frozen and running", flows)
	}
}

func TestParseKillMode(t *testing.T) {
	tests := []struct {
		in   string
		want KillMode
		ok   bool
	}{
		{"silent", KillSilent, true},
		{"reset", KillReset, true},
		{"freeze", KillFreeze, true},
		{"close", "", false}, // the censor's own shutdown, not a command
		{"FREEZE", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, err := ParseKillMode(tt.in)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("ParseKillMode(%q) = %q, %v; want %q, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func FuzzParseKillMode(f *testing.F) {
	for _, s := range []string{"silent", "reset", "freeze", "close", "", "fre\x00eze"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseKillMode(s)
		if err == nil && string(m) != s {
			t.Fatalf("ParseKillMode(%q) = %q", s, m)
		}
		if err != nil && m != "" {
			t.Fatalf("ParseKillMode(%q) = %q with error %v", s, m, err)
		}
	})
}
