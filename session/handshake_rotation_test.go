package session

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"net"
	"testing"
	"time"
)

// switchAt is the rotation tests' switch; each test moves its clock to either side.
var switchAt = time.Date(2027, 1, 10, 0, 0, 0, 0, time.UTC)

func pub(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

// rotationConfigs returns a gateway rotating from testIdentity(1) to testIdentity(2)
// at switchAt, a client pinning the old key, and the clock they share.
func rotationConfigs() (cc *ClientConfig, sc *ServerConfig, now *time.Time) {
	cc, sc = resumableConfigs()
	sc.Rotation = &Rotation{Next: testIdentity(2), At: switchAt}
	now = new(time.Time)
	*now = switchAt.Add(-time.Hour)
	clock := func() time.Time { return *now }
	cc.Now, sc.Now = clock, clock
	return cc, sc, now
}

// Each line a client may hold, at each side of the switch: the gateway signs with
// a key the client lists, announces the next key (under its signature) while it
// signs with the old one, and after the switch a client that knows only the old
// key fails exactly as with a wrong key.
func TestRotationAcrossTheSwitch(t *testing.T) {
	next := pub(testIdentity(2))
	lines := map[string]func(*ClientConfig){
		"old line":       func(*ClientConfig) {},
		"both keys":      func(cc *ClientConfig) { cc.NextGatewayKeys = []ed25519.PublicKey{next} },
		"next key alone": func(cc *ClientConfig) { cc.GatewayKey = next },
		"wrong key":      func(cc *ClientConfig) { cc.GatewayKey = pub(testIdentity(9)) },
	}
	cases := []struct {
		line     string
		after    bool // the clock is past the switch
		wantErr  error
		announce ed25519.PublicKey // the next key the client hears of
	}{
		{"old line", false, nil, next},
		{"both keys", false, nil, next},
		{"next key alone", false, nil, nil},
		{"wrong key", false, ErrAuth, nil},
		{"old line", true, ErrAuth, nil},
		{"both keys", true, nil, nil},
		{"next key alone", true, nil, nil},
		{"wrong key", true, ErrAuth, nil},
	}
	for _, tc := range cases {
		name := tc.line + map[bool]string{false: " during the overlap", true: " after the switch"}[tc.after]
		t.Run(name, func(t *testing.T) {
			cc, sc, now := rotationConfigs()
			lines[tc.line](cc)
			if tc.after {
				*now = switchAt.Add(time.Hour)
			}
			r := handshake(t, carriers[0], cc, sc)
			if !errors.Is(r.clientErr, tc.wantErr) {
				t.Fatalf("client: %v, want %v", r.clientErr, tc.wantErr)
			}
			if r.serverErr != nil {
				t.Fatalf("gateway: %v (it cannot tell which key a client pinned wrongly)", r.serverErr)
			}
			if tc.wantErr != nil {
				return
			}
			if got := r.client.NextGatewayKey(); !bytes.Equal(got, tc.announce) {
				t.Errorf("learned next key %x, want %x", got, tc.announce)
			}
			go serveTest(r.server)
			if err := echoOnce(r.client, 1000); err != nil {
				t.Errorf("echo: %v", err)
			}
		})
	}
}

// The whole point: a client whose bridge line pins only the old key learns the next
// one in a session during the overlap and, holding it, reaches the gateway after the
// switch with the same line. A client that never met the gateway during the overlap
// cannot.
func TestClientWithOldLineReachesTheGatewayAfterTheSwitch(t *testing.T) {
	cc, sc, now := rotationConfigs()
	during := mustHandshake(t, carriers[0], cc, sc)
	learned := during.client.NextGatewayKey()
	if !learned.Equal(pub(testIdentity(2))) {
		t.Fatalf("learned %x during the overlap, want the next key", learned)
	}

	*now = switchAt.Add(24 * time.Hour)
	if r := handshake(t, carriers[0], cc, sc); !errors.Is(r.clientErr, ErrAuth) {
		t.Fatalf("the old line alone after the switch: %v, want ErrAuth", r.clientErr)
	}
	remembered := *cc
	remembered.NextGatewayKeys = []ed25519.PublicKey{learned}
	after := mustHandshake(t, carriers[0], &remembered, sc)
	go serveTest(after.server)
	if err := echoOnce(after.client, 1000); err != nil {
		t.Fatalf("after the switch with the learned key: %v", err)
	}
}

// A censor that holds the bridge secret can open and re-seal the server hello, but
// every change to the announcement, or to the client's list of keys that decides
// the signer, breaks the gateway's signature.
func TestForgedAnnouncementIsRejected(t *testing.T) {
	forged := pub(testIdentity(9))
	cases := []struct {
		name          string
		client, reply func(*helloExtensions)
	}{
		{"announcement replaced", nil, func(e *helloExtensions) { e.identity = forged }},
		{"announcement added by a gateway that made none", nil, func(e *helloExtensions) { e.identity = forged }},
		{"announcement stripped", nil, func(e *helloExtensions) { e.identity = nil }},
		{"client's keys stripped", func(e *helloExtensions) { e.identity = nil }, nil},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cc, sc, _ := rotationConfigs()
			if i == 1 {
				sc.Rotation = nil
			}
			cconn, sconn := net.Pipe()
			m := &helloRewriter{Conn: cconn, secret: cc.Secret, client: tc.client, reply: tc.reply}
			r := handshake(t, carrier{"rewritten", func(testing.TB) (net.Conn, net.Conn) { return m, sconn }}, cc, sc)
			if !errors.Is(r.clientErr, ErrAuth) {
				t.Fatalf("client: %v, want ErrAuth", r.clientErr)
			}
			if !m.rewrote() {
				t.Fatal("the hello was not rewritten: the test tests nothing")
			}
		})
	}
}

// Peers from before the identity extension and peers that know it work together:
// an old client ignores the announcement (the signature still covers it), and an old
// gateway ignores the client's list and signs with its only key.
func TestRotationInteropWithPeersThatIgnoreTheExtension(t *testing.T) {
	cases := []struct {
		name    string
		setup   func(cc *ClientConfig, sc *ServerConfig)
		wantErr error
	}{
		{"old client, gateway in its overlap", func(cc *ClientConfig, _ *ServerConfig) { cc.legacyIdentity = true }, nil},
		{"new client with both keys, old gateway", func(cc *ClientConfig, sc *ServerConfig) {
			sc.legacyIdentity = true
			cc.NextGatewayKeys = []ed25519.PublicKey{pub(testIdentity(2))}
		}, nil},
		{"new client with the old line, old gateway", func(_ *ClientConfig, sc *ServerConfig) { sc.legacyIdentity = true }, nil},
		{"new client with the next key alone, old gateway", func(cc *ClientConfig, sc *ServerConfig) {
			sc.legacyIdentity = true
			cc.GatewayKey = pub(testIdentity(2))
		}, ErrAuth},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cc, sc, _ := rotationConfigs()
			tc.setup(cc, sc)
			r := handshake(t, carriers[0], cc, sc)
			if !errors.Is(r.clientErr, tc.wantErr) || r.serverErr != nil {
				t.Fatalf("client: %v (want %v), gateway: %v", r.clientErr, tc.wantErr, r.serverErr)
			}
			if tc.wantErr != nil {
				return
			}
			if k := r.client.NextGatewayKey(); k != nil {
				t.Errorf("learned %x from a peer that does not take part in rotation", k)
			}
			go serveTest(r.server)
			if err := echoOnce(r.client, 1000); err != nil {
				t.Errorf("echo: %v", err)
			}
		})
	}
}

// A session opened during the overlap resumes after the switch: its ticket was
// issued under the next key, and the client accepts the key it learned.
func TestSessionOpenedDuringTheOverlapResumesAfterTheSwitch(t *testing.T) {
	cc, sc, now := rotationConfigs()
	cconn, sconn := carriers[0].pair(t)
	client, server := pairUp(t, cconn, sconn, cc, sc)
	go serveTest(server)
	conn, err := client.OpenStream(context.Background(), "echo")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := echoOn(conn, 1000); err != nil {
		t.Fatalf("before the switch: %v", err)
	}

	*now = switchAt.Add(time.Minute)
	client.DropCarrier()
	c2, s2 := carriers[0].pair(t)
	if cerr, serr := resumeOnce(t, client, c2, s2, cc, sc); cerr != nil || serr != nil {
		t.Fatalf("resume after the switch: client error %v, gateway error %v", cerr, serr)
	}
	if err := echoOn(conn, 70_000); err != nil {
		t.Fatalf("the stream opened before the switch: %v", err)
	}
}

// The identity extension's bounds: whole IDs, a few of them, a whole key.
func TestIdentityExtensionRules(t *testing.T) {
	cases := []struct {
		name    string
		check   func() error
		wantErr bool
	}{
		{"one ID", func() error { return checkIdentityOffer(make([]byte, keyIDSize)) }, false},
		{"no list", func() error { return checkIdentityOffer(nil) }, false},
		{"part of an ID", func() error { return checkIdentityOffer(make([]byte, keyIDSize+3)) }, true},
		{"too many IDs", func() error { return checkIdentityOffer(make([]byte, (maxKeyIDs+1)*keyIDSize)) }, true},
		{"announced key", func() error { _, err := announcedKey(make([]byte, 32)); return err }, false},
		{"announced key cut short", func() error { _, err := announcedKey(make([]byte, 31)); return err }, true},
		{"empty extension", func() error { _, _, err := parseExtensions([]byte{0, extIdentity, 0, 0}); return err }, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.check(); (err != nil) != tc.wantErr || (err != nil && !errors.Is(err, errMalformed)) {
				t.Errorf("err = %v, want an errMalformed: %v", err, tc.wantErr)
			}
		})
	}
}
