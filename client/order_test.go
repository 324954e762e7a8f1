package client

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/client/failure"
	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/tcp"
	"github.com/umbrella-edge/edge/transports/utls"
)

// testClient is a client of bridges "tcp", "utls", "tcp", "utls" (indexes 0–3) to one
// gateway, and bridge 4, "tcp" to another gateway; it never dials.
func testClient(t *testing.T) (*Client, ed25519.PublicKey) {
	t.Helper()
	reg, _ := transports.NewRegistry(tcp.New(), utls.New(nil))
	key, _, _ := ed25519.GenerateKey(rand.Reader)
	other, _, _ := ed25519.GenerateKey(rand.Reader)
	var bridges []bridge.Line
	for i, name := range []string{"tcp", "utls", "tcp", "utls", "tcp"} {
		b := bridge.Line{Transport: name, Addr: "127.0.0.1:" + string(rune('1'+i)), Key: key}
		if name == "utls" {
			b.Args = transports.Args{"servername": "www.example.com"}
		}
		if i == 4 {
			b.Key = other
		}
		bridges = append(bridges, b)
	}
	c, err := New(Config{Bridges: bridges, Transports: reg, Network: func() string { return "home" }})
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

func TestPlanOrdersBridges(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		worked   int           // bridge that carried data here; -1: none
		rtt      time.Duration // measured with it
		failed   []int         // bridges failing in this order, one second apart
		resuming bool          // a session to the first gateway waits
		avoid    family
		want     []int
		head     time.Duration
	}{
		{name: "nothing known: config order", worked: -1,
			want: []int{0, 1, 2, 3, 4}, head: defaultHeadStart},
		{name: "what worked here goes first, then one of each family", worked: 2,
			want: []int{2, 0, 1, 4, 3}, head: defaultHeadStart},
		{name: "a slow network lengthens the head start", worked: 2, rtt: 300 * time.Millisecond,
			want: []int{2, 0, 1, 4, 3}, head: 900 * time.Millisecond},
		{name: "the head start is at most 2 s", worked: 2, rtt: 5 * time.Second,
			want: []int{2, 0, 1, 4, 3}, head: maxHeadStart},
		{name: "demoted bridges go last, soonest back first", worked: -1, failed: []int{1, 0},
			want: []int{2, 3, 4, 1, 0}, head: defaultHeadStart},
		{name: "a demoted bridge that worked before is not first", worked: 3, failed: []int{3},
			want: []int{0, 1, 2, 4, 3}, head: defaultHeadStart},
		{name: "the transport that just died goes after the others", worked: -1, avoid: familyStream,
			want: []int{1, 3, 0, 2, 4}, head: defaultHeadStart},
		{name: "a waiting session tries its gateway before another", worked: 4, resuming: true,
			want: []int{0, 1, 2, 3, 4}, head: defaultHeadStart},
		{name: "resuming after tcp died on bridge 0", worked: -1, resuming: true, avoid: familyStream, failed: []int{0},
			want: []int{1, 3, 2, 0, 4}, head: defaultHeadStart},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, key := testClient(t)
			if tc.worked >= 0 {
				c.mem.worked("home", c.keys[tc.worked], c.families[tc.worked], tc.rtt, now.Add(-time.Hour))
			}
			for i, b := range tc.failed {
				c.mem.failed("home", c.keys[b], now.Add(time.Duration(i-len(tc.failed))*time.Second))
			}
			var gw ed25519.PublicKey
			if tc.resuming {
				gw = key
			}
			p := c.planRound("home", gw, tc.avoid, now)
			if !slices.Equal(p.order, tc.want) || p.headStart != tc.head {
				t.Errorf("order %v, head start %v; want %v, %v", p.order, p.headStart, tc.want, tc.head)
			}
			// Another network knows none of it.
			if other := c.planRound("café", nil, "", now); !slices.Equal(other.order, []int{0, 1, 2, 3, 4}) {
				t.Errorf("on another network: order %v, want config order", other.order)
			}
		})
	}
}

func TestDemotedBridgeComesBackWhenItsTimeIsUp(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	c, _ := testClient(t)
	c.mem.failed("home", c.keys[0], now)
	if p := c.planRound("home", nil, "", now.Add(demoteFirst-time.Second)); p.order[4] != 0 {
		t.Errorf("during its demotion bridge 0 is at %v, want last", p.order)
	}
	if p := c.planRound("home", nil, "", now.Add(demoteFirst+time.Second)); p.order[0] != 0 {
		t.Errorf("after its demotion bridge 0 is at %v, want first again", p.order)
	}
}

// planClient is a client of one bridge per transport named, to one gateway, built
// without dialers: it only plans.
func planClient(t *testing.T, names ...string) *Client {
	t.Helper()
	mem, _ := loadMemory("")
	c := &Client{cfg: Config{HeadStart: defaultHeadStart}, mem: mem}
	for i, name := range names {
		b := bridge.Line{Transport: name, Addr: fmt.Sprintf("127.0.0.1:%d", i+1)}
		if name == "pt" {
			b.Args = transports.Args{"method": "obfs4"}
		}
		c.cfg.Bridges = append(c.cfg.Bridges, b)
		c.keys = append(c.keys, mem.bridgeKey(b))
		c.families = append(c.families, familyOf(b))
	}
	return c
}

// The nine transports in the order of issue 11's trial: tcp, utls, obfs4, webtunnel,
// websocket, meek, pt, quic, quicobfs (indexes 0–8).
var nine = []string{"tcp", "utls", "obfs4", "webtunnel", "websocket", "meek", "pt", "quic", "quicobfs"}

func TestPlanTriesEachFamilyBeforeASecondOfAny(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	frozen := &failure.Error{Cause: failure.Frozen, Bytes: 16 << 10}
	for _, tc := range []struct {
		name  string
		setup func(c *Client)
		avoid family
		want  []int
	}{
		{"nothing known: stream, TLS, CDN, UDP, then the second of each", nil, "",
			[]int{0, 1, 4, 7, 2, 3, 5, 8, 6}},
		{"what worked here first, then the other families", func(c *Client) {
			c.mem.worked("home", c.keys[8], familyUDP, 0, now.Add(-time.Hour))
		}, "", []int{8, 0, 1, 4, 7, 2, 3, 5, 6}},
		{"the family that just died goes after all others", nil, familyStream,
			[]int{1, 4, 7, 3, 5, 8, 0, 2, 6}},
		{"a family that froze twice goes last, with the demoted", func(c *Client) {
			c.mem.familyFailed("home", familyStream, frozen, now.Add(-2*time.Minute))
			c.mem.familyFailed("home", familyStream, frozen, now.Add(-time.Minute))
		}, "", []int{1, 4, 7, 3, 5, 8, 0, 2, 6}},
		{"a family that froze once goes after the others", func(c *Client) {
			c.mem.familyFailed("home", familyStream, frozen, now.Add(-time.Minute))
		}, "", []int{1, 4, 7, 3, 5, 8, 0, 2, 6}},
		{"of two families that froze, the one that just died goes last", func(c *Client) {
			c.mem.familyFailed("home", familyStream, frozen, now.Add(-2*time.Minute))
			c.mem.familyFailed("home", familyTLS, frozen, now.Add(-time.Minute))
		}, familyTLS, []int{4, 7, 5, 8, 0, 2, 6, 1, 3}},
		{"a freeze older than the pattern window is forgotten", func(c *Client) {
			c.mem.familyFailed("home", familyStream, frozen, now.Add(-patternWindow-time.Second))
		}, "", []int{0, 1, 4, 7, 2, 3, 5, 8, 6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := planClient(t, nine...)
			if tc.setup != nil {
				tc.setup(c)
			}
			if p := c.planRound("home", nil, tc.avoid, now); !slices.Equal(p.order, tc.want) {
				t.Errorf("order %v, want %v", names(c, p.order), names(c, tc.want))
			}
		})
	}
}

func names(c *Client, order []int) []string {
	out := make([]string, len(order))
	for i, b := range order {
		out[i] = c.cfg.Bridges[b].Transport
	}
	return out
}
