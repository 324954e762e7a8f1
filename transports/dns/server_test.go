package dns

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"

	dnsmsg "github.com/miekg/dns"

	"github.com/umbrella-edge/edge/transports"
)

// serveLoopback serves testDomain on loopback with lim, for the rest of the test.
func serveLoopback(t *testing.T, lim limits) *listener {
	t.Helper()
	udp, tcp, err := bind(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := serve(newZone(testDomain), udp, tcp, transports.Args{argDomain: testDomain}, nil, lim)
	t.Cleanup(func() { l.Close() })
	return l
}

// opening returns the first KCP segment of conversation conv, as a client's greeting
// is, carrying data.
func opening(conv uint32, data []byte) []byte {
	p := make([]byte, kcpOverhead, kcpOverhead+len(data))
	binary.LittleEndian.PutUint32(p, conv)
	p[4] = kcpCmdPush
	binary.LittleEndian.PutUint16(p[6:], kcpWindow)
	binary.LittleEndian.PutUint32(p[kcpLenOffset:], uint32(len(data)))
	return append(p, data...)
}

// ask sends a TXT query for a tunnel name of id carrying packets, over network, and
// returns the answer.
func ask(t *testing.T, l *listener, network string, id clientID, packets [][]byte, edit func(*dnsmsg.Msg)) *dnsmsg.Msg {
	t.Helper()
	var nonce [nonceSize]byte
	binary.BigEndian.PutUint32(nonce[:], uint32(time.Now().UnixNano()))
	name, err := encodeName(l.zone.mask, testDomain, nonce, id, packets)
	if err != nil {
		t.Fatal(err)
	}
	q := new(dnsmsg.Msg)
	q.SetQuestion(name, dnsmsg.TypeTXT)
	q.SetEdns0(ednsSize, false)
	if edit != nil {
		edit(q)
	}
	c := &dnsmsg.Client{Net: network, Timeout: hangGuard, UDPSize: ednsSize}
	resp, _, err := c.Exchange(q, l.Addr().String())
	if err != nil {
		t.Fatalf("exchange over %s: %v", network, err)
	}
	return resp
}

func TestUnknownTunnelIsNXDOMAIN(t *testing.T) {
	l := serveLoopback(t, defaultLimits)
	for name, packets := range map[string][][]byte{
		"a poll":              nil,
		"an ACK":              {bytes.Repeat([]byte{1}, kcpOverhead)},
		"a segment past sn 0": {func() []byte { p := opening(7, nil); p[kcpSNOffset] = 5; return p }()},
	} {
		resp := ask(t, l, "udp", clientID{1}, packets, nil)
		if resp.Rcode != dnsmsg.RcodeNameError || len(resp.Ns) != 1 {
			t.Errorf("%s of a tunnel the server does not know: %s with %d authority records, want NXDOMAIN with the SOA", name, rcodeName(resp.Rcode), len(resp.Ns))
		}
	}
	if n := len(l.peers); n != 0 {
		t.Errorf("%d tunnels after queries that open none", n)
	}
}

func TestTunnelsAreBounded(t *testing.T) {
	const limit = 3
	lim := defaultLimits
	lim.maxPeers = limit
	l := serveLoopback(t, lim)
	for i := range limit + 2 {
		resp := ask(t, l, "udp", clientID{byte(i)}, [][]byte{opening(uint32(i), nil)}, nil)
		want := dnsmsg.RcodeSuccess
		if i >= limit {
			want = dnsmsg.RcodeServerFailure
		}
		if resp.Rcode != want {
			t.Errorf("tunnel %d: %s, want %s", i, rcodeName(resp.Rcode), rcodeName(want))
		}
	}
	l.mu.Lock()
	n := len(l.peers)
	l.mu.Unlock()
	if n != limit {
		t.Errorf("%d tunnels, want the limit, %d", n, limit)
	}
}

func TestQuietTunnelIsDropped(t *testing.T) {
	lim := defaultLimits
	lim.idle = 100 * time.Millisecond
	l := serveLoopback(t, lim)
	ask(t, l, "udp", clientID{1}, [][]byte{opening(1, nil)}, nil)
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// No more queries: the sweep drops the tunnel, and the carrier ends.
	c.SetReadDeadline(time.Now().Add(hangGuard))
	_, err = c.Read(make([]byte, 1))
	if !errors.Is(err, ErrTunnelLost) {
		t.Fatalf("Read on a tunnel whose client went quiet: %v, want ErrTunnelLost", err)
	}
	if resp := ask(t, l, "udp", clientID{1}, nil, nil); resp.Rcode != dnsmsg.RcodeNameError {
		t.Errorf("a poll of the dropped tunnel: %s, want NXDOMAIN", rcodeName(resp.Rcode))
	}
}

func TestPacketThatDoesNotFitIsTruncatedThenCarriedOverTCP(t *testing.T) {
	l := serveLoopback(t, defaultLimits)
	id := clientID{5}
	ask(t, l, "udp", id, [][]byte{opening(5, nil)}, nil)
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A write of 600 bytes makes a segment that does not fit a 512-byte answer.
	if _, err := c.Write(bytes.Repeat([]byte{3}, 600)); err != nil {
		t.Fatal(err)
	}
	noEDNS := func(m *dnsmsg.Msg) { m.Extra = nil }
	var resp *dnsmsg.Msg
	for attempt := 0; ; attempt++ {
		// The first answers may carry the ACK of the opening segment.
		resp = ask(t, l, "udp", id, nil, noEDNS)
		if resp.Truncated || attempt == 20 {
			break
		}
	}
	if !resp.Truncated {
		t.Fatal("no truncated answer to a client whose resolver offers 512 bytes")
	}
	resp = ask(t, l, "tcp", id, nil, noEDNS)
	if resp.Rcode != dnsmsg.RcodeSuccess || len(resp.Answer) != 1 {
		t.Fatalf("over TCP: %s with %d answers, want the data", rcodeName(resp.Rcode), len(resp.Answer))
	}
	if n := txtLen(t, resp.Answer[0]); n < 600 {
		t.Errorf("the TCP answer carries %d bytes, want the 600-byte write's segment", n)
	}
}

// txtLen is the length of a TXT record's data.
func txtLen(t *testing.T, rr dnsmsg.RR) int {
	t.Helper()
	txt, ok := rr.(*dnsmsg.TXT)
	if !ok {
		t.Fatalf("answer %v is not TXT", rr)
	}
	raw, err := parseAnswerRR(txt)
	if err != nil {
		t.Fatal(err)
	}
	return len(raw)
}

func parseAnswerRR(rr dnsmsg.RR) ([]byte, error) {
	m := new(dnsmsg.Msg)
	m.SetQuestion(rr.Header().Name, dnsmsg.TypeTXT)
	m.Response = true
	m.Answer = []dnsmsg.RR{rr}
	raw, err := m.Pack()
	if err != nil {
		return nil, err
	}
	a, err := parseAnswer(raw)
	if err != nil {
		return nil, fmt.Errorf("parseAnswer: %w", err)
	}
	return a.payload, nil
}
