package censor

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func tcpRoute(name, transport, upstream string) Route {
	return Route{Name: name, Transport: transport, Network: "tcp", Upstream: upstream}
}

func TestRelayCarriesBothWaysAndHalfClose(t *testing.T) {
	c := startCensor(t, []Route{tcpRoute("gw", "tcp", startServer(t, "127.0.0.2", echo))})
	conn := dial(t, listenAddr(t, c, "gw"))
	data := highEntropy(1 << 20)
	go func() {
		conn.Write(data)
		conn.CloseWrite()
	}()
	got, err := io.ReadAll(conn)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("echo through the censor: %d of %d bytes, %v", len(got), len(data), err)
	}
}

// startUDPEcho answers each datagram with itself and counts them.
func startUDPEcho(t *testing.T, ip string) (string, *atomic.Int64) {
	t.Helper()
	pc, err := net.ListenPacket("udp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	var n atomic.Int64
	go func() {
		buf := make([]byte, 2048)
		for {
			k, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			n.Add(1)
			pc.WriteTo(buf[:k], from)
		}
	}()
	return pc.LocalAddr().String(), &n
}

func udpExchange(t *testing.T, addr string, msg []byte) ([]byte, error) {
	t.Helper()
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write(msg)
	conn.SetReadDeadline(time.Now().Add(hangGuard))
	buf := make([]byte, 2048)
	n, err := conn.Read(buf)
	return buf[:n], err
}

func TestUDPRelayCarriesDatagrams(t *testing.T) {
	up, _ := startUDPEcho(t, "127.0.0.2")
	c := startCensor(t, []Route{{Name: "dns", Transport: "dnstt", Network: "udp", Upstream: up}})
	got, err := udpExchange(t, listenAddr(t, c, "dns"), []byte("query"))
	if err != nil || string(got) != "query" {
		t.Fatalf("UDP echo through the censor: %q, %v", got, err)
	}
}

// TestIPBlockDropsTheGatewayAndPassesTheCDN blocks the gateway's address; the CDN
// front on another address still passes.
func TestIPBlockDropsTheGatewayAndPassesTheCDN(t *testing.T) {
	gw, gwAddr := startRecorder(t, "127.0.0.2")
	cdn := startServer(t, "127.0.0.3", echo)
	block, err := ParsePolicy("ip-block:addr=127.0.0.2")
	if err != nil {
		t.Fatal(err)
	}
	c := startCensor(t, []Route{tcpRoute("gw", "obfs4", gwAddr), tcpRoute("cdn", "meek", cdn)}, block)

	blocked := dial(t, listenAddr(t, c, "gw"))
	blocked.Write([]byte("hello"))
	waitDecision(t, c, by("ip-block", Drop))
	expectSilence(t, blocked)
	if n := gw.connections(); n != 0 {
		t.Fatalf("the blocked gateway got %d connections", n)
	}

	front := dial(t, listenAddr(t, c, "cdn"))
	front.Write([]byte("hello"))
	if _, err := io.ReadFull(front, make([]byte, 5)); err != nil {
		t.Fatalf("the CDN front did not pass: %v", err)
	}
	waitDecision(t, c, by("ip-block", Pass))
}

// pingPong checks that conn still carries an echo.
func pingPong(conn net.Conn) error {
	if _, err := conn.Write([]byte("ping")); err != nil {
		return err
	}
	b := make([]byte, 4)
	_, err := io.ReadFull(conn, b)
	return err
}

func TestKillCutsTheChosenTransport(t *testing.T) {
	tests := []struct {
		mode KillMode
		// check inspects the killed client's conn.
		check func(t *testing.T, conn net.Conn)
	}{
		{KillSilent, func(t *testing.T, conn net.Conn) {
			if _, err := conn.Write([]byte("ping")); err != nil {
				t.Fatalf("write after a silent kill: %v; want the socket open", err)
			}
			expectSilence(t, conn)
		}},
		{KillReset, func(t *testing.T, conn net.Conn) {
			_, err := conn.Read(make([]byte, 1))
			if !isReset(err) {
				t.Fatalf("read after a reset kill: %v; want connection reset", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(string(tt.mode), func(t *testing.T) {
			c := startCensor(t, []Route{
				tcpRoute("a", "obfs4", startServer(t, "127.0.0.2", echo)),
				tcpRoute("b", "utls", startServer(t, "127.0.0.2", echo)),
			})
			victim, bystander := dial(t, listenAddr(t, c, "a")), dial(t, listenAddr(t, c, "b"))
			for _, conn := range []net.Conn{victim, bystander} {
				if err := pingPong(conn); err != nil {
					t.Fatal(err)
				}
			}
			n, err := c.Kill(Selector{Transport: "obfs4"}, tt.mode)
			if err != nil || n != 1 {
				t.Fatalf("Kill = %d, %v; want 1 flow", n, err)
			}
			tt.check(t, victim)
			if err := pingPong(bystander); err != nil {
				t.Fatalf("the other transport's flow was cut too: %v", err)
			}
			waitDecision(t, c, func(d Decision) bool { return d.Policy == "kill" && d.Flow.Transport == "obfs4" })
		})
	}
}

func TestKillRefusesAnEmptySelector(t *testing.T) {
	c := startCensor(t, []Route{tcpRoute("a", "tcp", "127.0.0.2:9")})
	if _, err := c.Kill(Selector{}, KillReset); !errors.Is(err, ErrEmptySelector) {
		t.Fatalf("Kill(empty) = %v; want ErrEmptySelector", err)
	}
}

func TestAdminKillsFlowsAndSetsPolicies(t *testing.T) {
	rec, recAddr := startRecorder(t, "127.0.0.2")
	c := startCensor(t, []Route{tcpRoute("a", "obfs4", startServer(t, "127.0.0.2", echo)), tcpRoute("b", "utls", recAddr)})
	admin := httptest.NewServer(c.AdminHandler())
	defer admin.Close()

	conn := dial(t, listenAddr(t, c, "a"))
	if err := pingPong(conn); err != nil {
		t.Fatal(err)
	}
	waitFlow(t, c, func(st FlowStatus) bool { return st.ClientToServer == 4 }) // counted after the write
	var flows []FlowStatus
	getJSON(t, admin.URL+"/flows", &flows)
	if len(flows) != 1 || flows[0].Transport != "obfs4" || flows[0].ClientToServer != 4 {
		t.Fatalf("/flows = %+v; want the one obfs4 flow with 4 bytes up", flows)
	}

	resp, err := http.Post(admin.URL+"/kill?flow="+itoa(flows[0].ID)+"&mode=reset", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"killed": 1`) {
		t.Fatalf("/kill answered %s", body)
	}
	if _, err := conn.Read(make([]byte, 1)); !isReset(err) {
		t.Fatalf("read after /kill mode=reset: %v", err)
	}

	req, _ := http.NewRequest(http.MethodPut, admin.URL+"/policies", strings.NewReader("# escalate\nip-block:transport=utls\n"))
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT /policies: %v %v", resp, err)
	}
	resp.Body.Close()
	blocked := dial(t, listenAddr(t, c, "b"))
	blocked.Write([]byte("x"))
	waitDecision(t, c, by("ip-block", Drop))
	if rec.connections() != 0 {
		t.Fatal("a flow of the blocked transport reached its server")
	}

	req, _ = http.NewRequest(http.MethodPut, admin.URL+"/policies", strings.NewReader("fet:p=2\n"))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "p=") {
		t.Fatalf("PUT a bad policy: %d %s; want 400 naming p=", resp.StatusCode, body)
	}
	if ps := c.Policies(); len(ps) != 1 || ps[0].Name() != "ip-block" {
		t.Fatalf("a bad PUT changed the policies to %v", ps)
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

func TestSetPoliciesLeavesRunningFlowsAlone(t *testing.T) {
	c := startCensor(t, []Route{tcpRoute("gw", "obfs4", startServer(t, "127.0.0.2", echo))})
	old := dial(t, listenAddr(t, c, "gw"))
	if err := pingPong(old); err != nil {
		t.Fatal(err)
	}
	c.SetPolicies(&IPBlock{})
	if err := pingPong(old); err != nil {
		t.Fatalf("a running flow was cut by new policies: %v", err)
	}
	fresh := dial(t, listenAddr(t, c, "gw"))
	fresh.Write([]byte("ping"))
	waitDecision(t, c, by("ip-block", Drop))
	expectSilence(t, fresh)
}

func TestCloseEndsEveryFlow(t *testing.T) {
	c := startCensor(t, []Route{tcpRoute("gw", "obfs4", startServer(t, "127.0.0.2", echo))})
	conn := dial(t, listenAddr(t, c, "gw"))
	if err := pingPong(conn); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err := conn.Read(make([]byte, 1)); err == nil {
		t.Fatal("a flow outlived the censor")
	}
	if len(c.Flows()) != 0 {
		t.Fatalf("flows after Close: %v", c.Flows())
	}
}

func TestNewRejectsBadRoutes(t *testing.T) {
	a, b := tcpRoute("a", "x", "127.0.0.2:1"), tcpRoute("a", "y", "127.0.0.2:2")
	a.Listen, b.Listen = "127.0.0.1:0", "127.0.0.1:0"
	_, err := New(Config{Routes: []Route{a, b}})
	if !errors.Is(err, ErrBadRoute) || !strings.Contains(err.Error(), "used twice") {
		t.Fatalf("New with a duplicate name: %v", err)
	}
	if _, err := New(Config{}); !errors.Is(err, ErrBadRoute) {
		t.Fatalf("New without routes: %v", err)
	}
}

// BenchmarkRelayThroughput measures one TCP flow through the censor with no policy,
// client to a server that discards.
func BenchmarkRelayThroughput(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, conn); conn.Close() }()
		}
	}()
	c, err := New(Config{Routes: []Route{{Name: "gw", Transport: "tcp", Network: "tcp", Listen: "127.0.0.1:0", Upstream: ln.Addr().String()}}})
	if err != nil {
		b.Fatal(err)
	}
	go c.Run(b.Context())
	defer c.Close()
	r, _ := c.Route("gw")
	conn, err := net.Dial("tcp", r.Listen)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	chunk := highEntropy(64 << 10)
	b.SetBytes(int64(len(chunk)))
	for b.Loop() {
		if _, err := conn.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
}
