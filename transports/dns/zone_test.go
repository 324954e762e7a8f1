package dns

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	dnsmsg "github.com/miekg/dns"
)

// query packs a query as a resolver sends it to an authoritative server.
func query(name string, qtype uint16, edit func(*dnsmsg.Msg)) []byte {
	m := new(dnsmsg.Msg)
	m.SetQuestion(dnsmsg.Fqdn(name), qtype)
	m.RecursionDesired = false
	m.SetEdns0(ednsSize, false)
	if edit != nil {
		edit(m)
	}
	b, err := m.Pack()
	if err != nil {
		panic(err)
	}
	return b
}

// tunnelName returns a tunnel query's name carrying packets.
func tunnelName(t *testing.T, packets ...[]byte) string {
	t.Helper()
	name, err := encodeName(newMasker(testDomain), testDomain, [nonceSize]byte{1, 2, 3, 4}, clientID{9}, packets)
	if err != nil {
		t.Fatal(err)
	}
	return name
}

// TestZoneAnswersAsAnAuthoritativeServer checks what the server answers to everything
// that is not a tunnel query: what an authoritative server for the zone would.
func TestZoneAnswersAsAnAuthoritativeServer(t *testing.T) {
	z := newZone(testDomain)
	tests := []struct {
		name      string
		raw       []byte
		wantRcode int
		wantAA    bool
		wantSOA   string // "answer", "authority" or ""
	}{
		{"another zone", query("www.example.com", dnsmsg.TypeA, nil), dnsmsg.RcodeRefused, false, ""},
		{"the parent zone", query("example.org", dnsmsg.TypeSOA, nil), dnsmsg.RcodeRefused, false, ""},
		{"the apex's SOA", query(testDomain, dnsmsg.TypeSOA, nil), dnsmsg.RcodeSuccess, true, "answer"},
		{"the apex's A: no data", query(testDomain, dnsmsg.TypeA, nil), dnsmsg.RcodeSuccess, true, "authority"},
		{"a name that is no tunnel's", query("www."+testDomain, dnsmsg.TypeTXT, nil), dnsmsg.RcodeNameError, true, "authority"},
		{"a QNAME-minimised step", query("abcdefgh."+testDomain, dnsmsg.TypeA, nil), dnsmsg.RcodeNameError, true, "authority"},
		{"a tunnel name asked for A", query(tunnelName(t, []byte("x")), dnsmsg.TypeA, nil), dnsmsg.RcodeNameError, true, "authority"},
		{"class CHAOS", query(testDomain, dnsmsg.TypeTXT, func(m *dnsmsg.Msg) { m.Question[0].Qclass = dnsmsg.ClassCHAOS }), dnsmsg.RcodeRefused, false, ""},
		{"an EDNS version the server lacks", query(testDomain, dnsmsg.TypeSOA, func(m *dnsmsg.Msg) { m.IsEdns0().SetVersion(1) }), dnsmsg.RcodeBadVers, false, ""},
		{"a NOTIFY", query(testDomain, dnsmsg.TypeSOA, func(m *dnsmsg.Msg) { m.Opcode = dnsmsg.OpcodeNotify }), dnsmsg.RcodeNotImplemented, false, ""},
		{"two questions", query(testDomain, dnsmsg.TypeSOA, func(m *dnsmsg.Msg) { m.Question = append(m.Question, m.Question[0]) }), dnsmsg.RcodeFormatError, false, ""},
		{"no question", query(testDomain, dnsmsg.TypeSOA, func(m *dnsmsg.Msg) { m.Question = nil }), dnsmsg.RcodeFormatError, false, ""},
		{"a header and garbage", append(query(testDomain, dnsmsg.TypeSOA, nil)[:12], 0xff, 0xff, 0xff), dnsmsg.RcodeFormatError, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, q := z.classify(tt.raw, false)
			if q != nil {
				t.Fatal("taken as a tunnel query")
			}
			resp := new(dnsmsg.Msg)
			if err := resp.Unpack(raw); err != nil {
				t.Fatalf("the answer does not unpack: %v", err)
			}
			if resp.Rcode != tt.wantRcode || resp.Authoritative != tt.wantAA || !resp.Response {
				t.Errorf("rcode %s, AA %v, QR %v; want %s, AA %v, QR true", rcodeName(resp.Rcode), resp.Authoritative, resp.Response, rcodeName(tt.wantRcode), tt.wantAA)
			}
			if binary.BigEndian.Uint16(raw) != binary.BigEndian.Uint16(tt.raw) {
				t.Error("the answer's ID is not the query's")
			}
			gotSOA := ""
			switch {
			case len(resp.Answer) == 1 && resp.Answer[0].Header().Rrtype == dnsmsg.TypeSOA:
				gotSOA = "answer"
			case len(resp.Ns) == 1 && resp.Ns[0].Header().Rrtype == dnsmsg.TypeSOA:
				gotSOA = "authority"
			case len(resp.Answer)+len(resp.Ns) > 0:
				gotSOA = "something else"
			}
			if gotSOA != tt.wantSOA {
				t.Errorf("SOA in %q, want %q", gotSOA, tt.wantSOA)
			}
		})
	}
}

func TestZoneIgnoresWhatIsNoQuery(t *testing.T) {
	z := newZone(testDomain)
	resp := query(testDomain, dnsmsg.TypeSOA, func(m *dnsmsg.Msg) { m.Response = true })
	for name, raw := range map[string][]byte{
		"a response":            resp,
		"less than a header":    {1, 2, 3},
		"nothing":               nil,
		"a header with QR only": {0, 1, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	} {
		if out, q := z.classify(raw, false); out != nil || q != nil {
			t.Errorf("%s: answered %x (tunnel query %v), want silence", name, out, q != nil)
		}
	}
}

func TestZoneTakesTunnelQueriesWhateverTheirCase(t *testing.T) {
	// Resolvers randomise the case of the names they ask (0x20 encoding, used by
	// Google Public DNS); the answer must keep the case asked.
	z := newZone(testDomain)
	name := tunnelName(t, []byte("a packet"))
	mixed := []byte(name)
	for i := range mixed {
		if i%3 == 0 {
			mixed[i] = bytes.ToUpper(mixed[i : i+1])[0]
		}
	}
	_, q := z.classify(query(string(mixed), dnsmsg.TypeTXT, nil), false)
	if q == nil {
		t.Fatal("a tunnel name in mixed case was not taken as a tunnel query")
	}
	if string(q.up.packets[0]) != "a packet" {
		t.Fatalf("decoded %q", q.up.packets[0])
	}
	raw, err := q.pack(nil)
	if err != nil {
		t.Fatal(err)
	}
	resp := new(dnsmsg.Msg)
	if err := resp.Unpack(raw); err != nil {
		t.Fatal(err)
	}
	if resp.Question[0].Name != string(mixed) || resp.Answer[0].Header().Name != string(mixed) {
		t.Errorf("answered for %q, asked %q", resp.Answer[0].Header().Name, mixed)
	}
}

// TestServerMTUFits checks that a packet of serverMTU bytes fits the answer to a query
// with the longest name, within the UDP size resolvers advertise.
func TestServerMTUFits(t *testing.T) {
	z := newZone(testDomain)
	name := tunnelName(t, fullPackets(testDomain)...)
	_, q := z.classify(query(name, dnsmsg.TypeTXT, nil), false)
	if q == nil {
		t.Fatal("not a tunnel query")
	}
	if room := q.room(); room < downFrame+serverMTU {
		t.Fatalf("room for %d payload bytes, want %d for one %d-byte packet", room, downFrame+serverMTU, serverMTU)
	}
	raw, err := q.pack(packDown(z.mask, q.up.nonce, [][]byte{bytes.Repeat([]byte{1}, q.room()-downFrame)}))
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) > ednsSize {
		t.Fatalf("a full answer is %d bytes, over %d", len(raw), ednsSize)
	}
	if len(strings.TrimSuffix(name, ".")) > 253 {
		t.Fatalf("the longest name has %d characters", len(name))
	}
}

func TestTunnelAnswersStayWithinTheAskersSize(t *testing.T) {
	z := newZone(testDomain)
	name := tunnelName(t, []byte("x"))
	for _, size := range []uint16{0, 512, 1000, 4096} {
		raw := query(name, dnsmsg.TypeTXT, func(m *dnsmsg.Msg) {
			if size == 0 {
				m.Extra = nil
			} else {
				m.IsEdns0().SetUDPSize(size)
			}
		})
		_, q := z.classify(raw, false)
		payload := packDown(z.mask, q.up.nonce, [][]byte{bytes.Repeat([]byte{1}, q.room()-downFrame)})
		resp, err := q.pack(payload)
		if err != nil {
			t.Fatal(err)
		}
		limit := min(max(int(size), classicSize), ednsSize)
		if len(resp) > limit {
			t.Errorf("asker's size %d: a full answer is %d bytes, over %d", size, len(resp), limit)
		}
	}
}
