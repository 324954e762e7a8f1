package censor

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/quic"
	"github.com/umbrella-edge/edge/transports/tlskit"
)

// rfc9001DCID is the destination connection ID of RFC 9001 appendix A's client Initial.
var rfc9001DCID = []byte{0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08}

// rfc9001Hello is the ClientHello of RFC 9001 appendix A.2 (SNI example.com), as its
// sample Initial decrypts.
func rfc9001Hello(t testing.TB) []byte {
	crypto, err := quicClientHello(rfc9001ClientInitial(t))
	if err != nil {
		t.Fatalf("decrypt the RFC 9001 Initial: %v", err)
	}
	return crypto
}

// sealInitial builds a client Initial datagram for dcid holding CRYPTO frames of hello
// at the given [start, end) ranges, padded to 1200 bytes, protected as RFC 9001
// section 5 says: the inverse of what the censor undoes.
func sealInitial(t testing.TB, dcid []byte, pn byte, hello []byte, ranges ...[2]int) []byte {
	t.Helper()
	return sealInitialTo(t, dcid, dcid, pn, hello, ranges...)
}

// sealInitialTo is sealInitial for a client that has switched to the server's
// connection ID, dcid, its keys still coming from its first one, keyDCID.
func sealInitialTo(t testing.TB, keyDCID, dcid []byte, pn byte, hello []byte, ranges ...[2]int) []byte {
	t.Helper()
	var payload []byte
	for _, r := range ranges {
		payload = append(payload, 0x06)
		payload = appendVarint(payload, uint64(r[0]))
		payload = appendVarint(payload, uint64(r[1]-r[0]))
		payload = append(payload, hello[r[0]:r[1]]...)
	}
	header := []byte{0xc0} // Initial, 1-byte packet number
	header = binary.BigEndian.AppendUint32(header, quicV1)
	header = append(header, byte(len(dcid)))
	header = append(header, dcid...)
	header = append(header, 0, 0) // no SCID, no token
	const tagLen = 16
	padded := 1200 - len(header) - 2 - 1 - tagLen
	if len(payload) > padded {
		t.Fatalf("%d bytes of frames do not fit one Initial", len(payload))
	}
	payload = append(payload, make([]byte, padded-len(payload))...) // PADDING frames
	header = binary.BigEndian.AppendUint16(header, 0x4000|uint16(1+len(payload)+tagLen))
	pnOffset := len(header)
	header = append(header, pn)

	key, iv, hp, err := quicClientKeys(keyDCID)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := aes.NewCipher(key)
	aead, _ := cipher.NewGCM(block)
	nonce := slices.Clone(iv)
	nonce[len(nonce)-1] ^= pn
	pkt := aead.Seal(slices.Clone(header), nonce, payload, header)
	hpBlock, _ := aes.NewCipher(hp)
	var mask [16]byte
	hpBlock.Encrypt(mask[:], pkt[pnOffset+4:pnOffset+20])
	pkt[0] ^= mask[0] & 0x0f
	pkt[pnOffset] ^= mask[1]
	return pkt
}

func appendVarint(b []byte, v uint64) []byte {
	if v < 1<<6 {
		return append(b, byte(v))
	}
	return binary.BigEndian.AppendUint16(b, 0x4000|uint16(v))
}

// judgeFlow gives datagrams one by one to an SNI policy's judge of one flow, as the
// censor's UDP relay does (in one buffer it reuses), and returns the verdict, its
// reason and how many datagrams it read.
func judgeFlow(p *SNI, datagrams [][]byte) (Verdict, string, int) {
	next := p.judgeDatagrams(nil, Flow{Network: "udp"})
	if next == nil {
		return "", "", 0
	}
	buf := make([]byte, 64<<10)
	for i, d := range datagrams {
		if v, reason := next(buf[:copy(buf, d)]); v != undecided {
			return v, reason, i + 1
		}
	}
	return undecided, "", len(datagrams)
}

func TestSNIReassemblesAClientHelloSplitOverInitials(t *testing.T) {
	hello := rfc9001Hello(t)
	n := len(hello)
	whole := sealInitial(t, rfc9001DCID, 0, hello, [2]int{0, n})
	// The SNI extension sits in the hello's second half; cutting at 40 leaves the first
	// Initial with the hello's start and no name, as quic-go's and Chrome's do.
	first := sealInitial(t, rfc9001DCID, 0, hello, [2]int{0, 40})
	second := sealInitial(t, rfc9001DCID, 1, hello, [2]int{40, n})
	// After the server's first Initial the client sends to the ID the server chose.
	secondToServer := sealInitialTo(t, rfc9001DCID, []byte{0xde, 0xad, 0xbe, 0xef}, 1, hello, [2]int{40, n})
	// Chrome sends the pieces out of order within its first flight.
	scrambled := [][]byte{
		sealInitial(t, rfc9001DCID, 0, hello, [2]int{100, n}, [2]int{0, 20}),
		sealInitial(t, rfc9001DCID, 1, hello, [2]int{20, 100}),
	}
	// Five Initials, the name in the last.
	var fifths [][]byte
	for i, r := range [][2]int{{0, 10}, {10, 20}, {20, 30}, {30, 40}, {40, n}} {
		fifths = append(fifths, sealInitial(t, rfc9001DCID, byte(i), hello, r))
	}
	handshake := []byte{0xe0, 0, 0, 0, 1, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0x40, 0x20} // a Handshake packet's header
	handshake = append(handshake, make([]byte, 0x20)...)

	firstOnly := &SNI{Block: []string{"example.com"}}
	reassembling := &SNI{Block: []string{"example.com"}, ReassembleQUIC: true}
	tests := []struct {
		name      string
		policy    *SNI
		datagrams [][]byte
		want      Verdict
		read      int    // datagrams read before the verdict
		reason    string // in the verdict's reason
	}{
		{"RFC 9001's Initial, first datagram only", firstOnly, [][]byte{rfc9001ClientInitial(t)}, Drop, 1, `"example.com" is on the block list`},
		{"RFC 9001's Initial, reassembling", reassembling, [][]byte{rfc9001ClientInitial(t)}, Drop, 1, `"example.com" is on the block list`},
		{"one Initial re-sealed, as a test of the sealer", reassembling, [][]byte{whole}, Drop, 1, "example.com"},
		{"split in two, first datagram only", firstOnly, [][]byte{first, second}, Pass, 1, "no SNI in the first datagram"},
		{"split in two, reassembling", reassembling, [][]byte{first, second}, Drop, 2, "reassembled from 2 datagrams"},
		{"split, the rest sent to the server's connection ID", reassembling, [][]byte{first, secondToServer}, Drop, 2, "reassembled from 2 datagrams"},
		{"split and scrambled, reassembling", reassembling, [][]byte{scrambled[0], scrambled[1]}, Drop, 2, "reassembled from 2 datagrams"},
		{"split in five, past the bound", reassembling, fifths, Pass, quicReassembleDatagrams, "no SNI in the first 4 datagrams"},
		{"the handshake goes on before the hello is whole", reassembling, [][]byte{first, handshake, second}, Pass, 2, "not a QUIC v1 client Initial: no Initial packet"},
		{"a name not on the list", &SNI{Block: []string{"example.org"}, ReassembleQUIC: true}, [][]byte{first, second}, Pass, 2, "not on the block list"},
		{"not QUIC", reassembling, [][]byte{{0x12, 0x34, 0x01, 0x00}}, "", 1, ""},
		{"QUIC left alone", &SNI{Block: []string{"example.com"}, SkipQUIC: true}, [][]byte{whole}, "", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, reason, read := judgeFlow(tt.policy, tt.datagrams)
			if v != tt.want || read != tt.read || !strings.Contains(reason, tt.reason) {
				t.Fatalf("verdict %q after %d datagrams (%s); want %q after %d, saying %q", v, read, reason, tt.want, tt.read, tt.reason)
			}
		})
	}
}

// quicGoFirstFlight returns the datagrams quic-go, through the quic transport, sends
// to a server that never answers: its first flight of client Initials.
func quicGoFirstFlight(t *testing.T, serverName string) [][]byte {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	d, err := quic.New(nil).NewDialer(pc.LocalAddr().String(), transports.Args{"servername": serverName})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if c, err := d.Dial(ctx); err == nil {
		c.Close()
		t.Fatal("a dial to a silent socket succeeded")
	}
	var flight [][]byte
	buf := make([]byte, 64<<10)
	for {
		pc.SetReadDeadline(time.Now().Add(100 * time.Millisecond)) // already queued
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			break
		}
		flight = append(flight, slices.Clone(buf[:n]))
	}
	if len(flight) < 2 {
		t.Fatalf("quic-go sent %d datagrams; want a ClientHello split over at least two Initials", len(flight))
	}
	return flight
}

// TestSNIReadsQUICGosSplitClientHello checks the policy against the Initials quic-go
// really sends: their first datagram alone does not hold the server name, the
// reassembled ones do.
func TestSNIReadsQUICGosSplitClientHello(t *testing.T) {
	const name = "www.example.com"
	flight := quicGoFirstFlight(t, name)

	if v, reason, _ := judgeFlow(&SNI{Block: []string{name}}, flight); v != Pass || !strings.Contains(reason, "no SNI in the first datagram") {
		t.Fatalf("reading the first datagram only: %q (%s); want it to pass, quic-go's SNI being split", v, reason)
	}
	v, reason, read := judgeFlow(&SNI{Block: []string{name}, ReassembleQUIC: true}, flight)
	if v != Drop || read < 2 || !strings.Contains(reason, `"`+name+`" is on the block list`) {
		t.Fatalf("reassembling: %q after %d of %d datagrams (%s); want a drop for %s after reading more than one", v, read, len(flight), reason, name)
	}
	t.Logf("quic-go's first flight: %d datagrams of %d bytes; %s", len(flight), len(flight[0]), reason)
}

// TestCensorStopsAQUICFlowOnceItsHelloIsWhole relays quic-go's first flight through
// the censor: the datagram that completes the blocked name never reaches the server,
// nor does anything after it; with a name not on the list every datagram does.
func TestCensorStopsAQUICFlowOnceItsHelloIsWhole(t *testing.T) {
	const name = "www.example.com"
	flight := quicGoFirstFlight(t, name)
	tests := []struct {
		block   string
		blocked bool
	}{
		{name, true},
		{"other.example", false},
	}
	for _, tt := range tests {
		t.Run(tt.block, func(t *testing.T) {
			server, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer server.Close()
			p := &SNI{Block: []string{tt.block}, ReassembleQUIC: true}
			c := startCensor(t, []Route{{Name: "quic", Transport: "quic", Network: "udp", Upstream: server.LocalAddr().String()}}, p)
			conn, err := net.Dial("udp", listenAddr(t, c, "quic"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			late := []byte("a datagram after the flight")
			for _, d := range append(slices.Clone(flight), late) {
				if _, err := conn.Write(d); err != nil {
					t.Fatal(err)
				}
			}
			want := len(flight) + 1
			if tt.blocked {
				d := waitDecision(t, c, by("sni", Drop))
				if !strings.Contains(d.Reason, "reassembled") {
					t.Fatalf("drop decision %q; want it to say the hello was reassembled", d.Reason)
				}
				// The Initials before the one that completed the name passed while the
				// censor read them.
				_, _, read := judgeFlow(p, flight)
				want = read - 1
			} else {
				waitDecision(t, c, by("sni", Pass))
			}
			got := receiveAll(t, server)
			if len(got) != want {
				t.Fatalf("the server got %d of %d datagrams; want %d", len(got), len(flight)+1, want)
			}
			for i, d := range got {
				if i < len(flight) && !slices.Equal(d, flight[i]) || i == len(flight) && string(d) != string(late) {
					t.Fatalf("datagram %d arrived changed or out of order", i)
				}
			}
		})
	}
}

// receiveAll reads datagrams until none has come for a while. The while bounds only
// how long the test waits for datagrams the censor should have stopped; it asserts no
// timing.
func receiveAll(t *testing.T, pc net.PacketConn) [][]byte {
	t.Helper()
	var got [][]byte
	buf := make([]byte, 64<<10)
	for {
		pc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			return got
		}
		got = append(got, slices.Clone(buf[:n]))
	}
}

func FuzzQUICReassembly(f *testing.F) {
	hello := rfc9001Hello(f)
	f.Add(sealInitial(f, rfc9001DCID, 0, hello, [2]int{0, 40}), sealInitial(f, rfc9001DCID, 1, hello, [2]int{40, len(hello)}))
	f.Add(rfc9001ClientInitial(f), []byte{0x40, 1, 2, 3})
	f.Add([]byte{0xc0, 0, 0, 0, 1, 0, 0, 0, 0}, []byte{})
	f.Fuzz(func(t *testing.T, d1, d2 []byte) {
		var r initialReader
		for _, d := range [][]byte{d1, d2} {
			crypto, err := r.add(d)
			if err != nil {
				continue
			}
			if len(crypto) > maxCryptoOffset {
				t.Fatalf("%d bytes of CRYPTO data, more than the bound", len(crypto))
			}
			tlskit.ParseClientHelloMessage(crypto)
		}
		judgeFlow(&SNI{Block: []string{"example.com"}, ReassembleQUIC: true}, [][]byte{d1, d2})
	})
}
