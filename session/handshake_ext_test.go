package session

import (
	"bytes"
	"errors"
	"net"
	"slices"
	"sync"
	"testing"
)

func TestRecordAEADIsNegotiated(t *testing.T) {
	aes, chacha := aeadAES256GCM, aeadChaCha20Poly1305
	cases := []struct {
		name           string
		client, server aeadPrefs
		want           aeadID
	}{
		{"both with AES hardware", aeadPrefs{aes, chacha}, aeadPrefs{aes, chacha}, aes},
		{"client without AES hardware", aeadPrefs{chacha}, aeadPrefs{aes, chacha}, chacha},
		{"gateway without AES hardware", aeadPrefs{aes, chacha}, aeadPrefs{chacha}, chacha},
		{"neither with AES hardware", aeadPrefs{chacha}, aeadPrefs{chacha}, chacha},
		{"client from before the extension", aeadPrefs{}, aeadPrefs{aes, chacha}, chacha},
		{"gateway from before the extension", aeadPrefs{aes, chacha}, aeadPrefs{}, chacha},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cc, sc := testConfigs()
			cc.aeads, sc.aeads = tc.client, tc.server
			r := mustHandshake(t, carriers[1], cc, sc)
			for side, s := range map[string]*Session{"client": r.client, "gateway": r.server} {
				if got := carrierAEAD(s); got != tc.want {
					t.Errorf("%s records use %v, want %v", side, got, tc.want)
				}
			}
			go serveTest(r.server)
			if err := echoOnce(r.client, 200<<10); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// carrierAEAD is the AEAD of s's current carrier.
func carrierAEAD(s *Session) aeadID {
	s.link.mu.Lock()
	defer s.link.mu.Unlock()
	if s.link.cur == nil {
		return 0
	}
	return s.link.cur.rc.aead
}

// TestAEADChoiceIsBoundToTheTranscript: a censor that holds the bridge secret (it is
// shared, and may leak) can open and re-seal both hellos, but changing either side's
// extensions breaks the gateway's signature, so it cannot push a session onto the
// AEAD it likes.
func TestAEADChoiceIsBoundToTheTranscript(t *testing.T) {
	aes, chacha := aeadAES256GCM, aeadChaCha20Poly1305
	cases := []struct {
		name          string
		client, reply func(*helloExtensions)
	}{
		{"client's offer stripped", func(e *helloExtensions) { e.aeads = nil }, nil},
		{"client's offer reordered", func(e *helloExtensions) { e.aeads = []aeadID{chacha, aes} }, nil},
		{"gateway's choice changed", nil, func(e *helloExtensions) { e.aeads = []aeadID{chacha} }},
		{"gateway's choice stripped", nil, func(e *helloExtensions) { e.aeads = nil }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cc, sc := testConfigs()
			cc.aeads, sc.aeads = aeadPrefs{aes, chacha}, aeadPrefs{aes, chacha}
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

// helloRewriter sits on the client's side of the carrier with the bridge secret, as
// a censor that has it can: it opens the client hello the client writes, or the
// server hello it reads, changes its extensions, and seals it again, same length.
type helloRewriter struct {
	net.Conn
	secret        Secret
	client, reply func(*helloExtensions)

	mu      sync.Mutex
	hk      helloKeys
	pending []byte // the server hello, rewritten, not yet read
	read    bool   // the server hello has been read
	done    bool
}

func (m *helloRewriter) rewrote() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.done
}

func (m *helloRewriter) Write(p []byte) (int, error) {
	m.mu.Lock()
	hello := m.hk.client == nil
	if hello {
		m.hk, _ = deriveHelloKeys(&m.secret, p[:randomSize], p[randomSize:randomSize+markSize])
	}
	m.mu.Unlock()
	if !hello || m.client == nil {
		return m.Conn.Write(p)
	}
	prefix := p[:helloPrefixSize]
	plain, err := m.hk.client.Open(nil, zeroNonce[:], p[helloPrefixSize:], prefix)
	if err != nil {
		return 0, err
	}
	b, _, err := parseClientHelloBody(plain)
	if err != nil {
		return 0, err
	}
	before := b.size()
	m.client(&b.ext)
	plain = b.marshal(nil, len(plain)-b.size())
	if b.size() > before+len(plain) {
		return 0, errors.New("no room for the rewritten extensions")
	}
	sealed := m.hk.client.Seal(slices.Clone(prefix), zeroNonce[:], plain, prefix)
	m.mu.Lock()
	m.done = true
	m.mu.Unlock()
	if _, err := m.Conn.Write(sealed); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (m *helloRewriter) Read(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.reply != nil && !m.read {
		m.read = true
		if err := m.rewriteReply(); err != nil {
			return 0, err
		}
	}
	if len(m.pending) > 0 {
		n := copy(p, m.pending)
		m.pending = m.pending[n:]
		return n, nil
	}
	return m.Conn.Read(p)
}

// rewriteReply reads the whole server hello and keeps it, rewritten, in pending.
func (m *helloRewriter) rewriteReply() error {
	var hdr [serverPrefixSize]byte
	if _, err := readFull(m.Conn, hdr[:]); err != nil {
		return err
	}
	aead, mask, err := m.hk.serverHelloKeys(hdr[:serverRandomSize])
	if err != nil {
		return err
	}
	body := make([]byte, unmaskLen(hdr[serverRandomSize:], mask))
	if _, err := readFull(m.Conn, body); err != nil {
		return err
	}
	plain, err := aead.Open(nil, zeroNonce[:], body, hdr[:])
	if err != nil {
		return err
	}
	sb, _, err := parseServerHelloBody(plain)
	if err != nil {
		return err
	}
	m.reply(&sb.ext)
	// The rewritten extensions take the padding's place; when they outgrow it (the
	// gateway's padding is random, and may be shorter than an added key), the hello
	// grows, and its masked length with it.
	padding := len(plain) - serverHelloFixed - len(sb.ticket) - len(sb.ext.marshal())
	plain = sb.marshal(nil, max(padding, 0))
	if padding < 0 {
		masked := maskedLen(len(plain)+aead.Overhead(), mask)
		copy(hdr[serverRandomSize:], masked[:])
	}
	m.pending = aead.Seal(bytes.Clone(hdr[:]), zeroNonce[:], plain, hdr[:])
	m.done = true
	return nil
}

func readFull(c net.Conn, p []byte) (int, error) {
	n := 0
	for n < len(p) {
		k, err := c.Read(p[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func TestParseExtensions(t *testing.T) {
	cases := []struct {
		name    string
		in      []byte
		want    []aeadID
		wantLen int
		wantErr bool
	}{
		{"zeros of padding", make([]byte, 40), nil, 0, false},
		{"nothing", nil, nil, 0, false},
		{"one byte", []byte{0x01}, nil, 0, false},
		{"AEAD list then padding", []byte{0, extAEAD, 0, 2, 2, 1, 0, 0, 0}, []aeadID{2, 1}, 6, false},
		{"AEAD list at the very end", []byte{0, extAEAD, 0, 1, 1}, []aeadID{1}, 5, false},
		{"unknown extension skipped", []byte{0x12, 0x34, 0, 2, 9, 9, 0, extAEAD, 0, 1, 2}, []aeadID{2}, 11, false},
		{"overrun", []byte{0, extAEAD, 0, 5, 1}, nil, 0, true},
		{"no length", []byte{0, extAEAD, 0}, nil, 0, true},
		{"twice", []byte{0, extAEAD, 0, 1, 1, 0, extAEAD, 0, 1, 2}, nil, 0, true},
		{"empty AEAD list", []byte{0, extAEAD, 0, 0}, nil, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, n, err := parseExtensions(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if err == nil && (!slices.Equal(e.aeads, tc.want) || n != tc.wantLen) {
				t.Errorf("got %v in %d bytes, want %v in %d", e.aeads, n, tc.want, tc.wantLen)
			}
		})
	}
}
