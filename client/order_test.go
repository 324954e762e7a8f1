package client

import (
	"crypto/ed25519"
	"crypto/rand"
	"slices"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/bridge"
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
		avoid    string
		want     []int
		head     time.Duration
	}{
		{name: "nothing known: config order", worked: -1,
			want: []int{0, 1, 2, 3, 4}, head: defaultHeadStart},
		{name: "what worked here goes first", worked: 2,
			want: []int{2, 0, 1, 3, 4}, head: defaultHeadStart},
		{name: "a slow network lengthens the head start", worked: 2, rtt: 300 * time.Millisecond,
			want: []int{2, 0, 1, 3, 4}, head: 900 * time.Millisecond},
		{name: "the head start is at most 2 s", worked: 2, rtt: 5 * time.Second,
			want: []int{2, 0, 1, 3, 4}, head: maxHeadStart},
		{name: "demoted bridges go last, soonest back first", worked: -1, failed: []int{1, 0},
			want: []int{2, 3, 4, 1, 0}, head: defaultHeadStart},
		{name: "a demoted bridge that worked before is not first", worked: 3, failed: []int{3},
			want: []int{0, 1, 2, 4, 3}, head: defaultHeadStart},
		{name: "the transport that just died goes after the others", worked: -1, avoid: "tcp",
			want: []int{1, 3, 0, 2, 4}, head: defaultHeadStart},
		{name: "a waiting session tries its gateway before another", worked: 4, resuming: true,
			want: []int{0, 1, 2, 3, 4}, head: defaultHeadStart},
		{name: "resuming after tcp died on bridge 0", worked: -1, resuming: true, avoid: "tcp", failed: []int{0},
			want: []int{1, 3, 2, 0, 4}, head: defaultHeadStart},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, key := testClient(t)
			if tc.worked >= 0 {
				c.mem.worked("home", c.keys[tc.worked], tc.rtt, now.Add(-time.Hour))
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
