package tlskit

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/transports"
)

// readHelloFrom reads TLS records from r until a whole ClientHello has arrived and
// returns the records as received.
func readHelloFrom(r io.Reader) ([]byte, error) {
	var raw []byte
	for {
		hdr := make([]byte, 5)
		if _, err := io.ReadFull(r, hdr); err != nil {
			return nil, err
		}
		body := make([]byte, binary.BigEndian.Uint16(hdr[3:]))
		if _, err := io.ReadFull(r, body); err != nil {
			return nil, err
		}
		raw = append(append(raw, hdr...), body...)
		if _, err := ParseClientHello(raw); !errors.Is(err, ErrTruncatedHello) {
			return raw, err
		}
	}
}

// captureOurHello dials a loopback listener with a Client of args and returns the
// ClientHello it sent; the listener hangs up after reading it, so the dial itself fails.
func captureOurHello(t *testing.T, args transports.Args) []byte {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		defer close(got)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		if b, err := readHelloFrom(c); err == nil {
			got <- b
		}
	}()
	tc, err := NewClient("", args, nil)
	if err != nil {
		t.Fatalf("NewClient(%v): %v", args, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if c, _, err := tc.Dial(ctx, ln.Addr().String()); err == nil {
		c.Close()
		t.Fatal("Dial succeeded against a listener that only reads the ClientHello")
	}
	b, ok := <-got
	if !ok {
		t.Fatal("the listener received no ClientHello")
	}
	return b
}

func mustParse(t *testing.T, b []byte) *ClientHello {
	t.Helper()
	h, err := ParseClientHello(b)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func browserHello(t *testing.T, browser string) *ClientHello {
	t.Helper()
	b, err := newestHello(browser)
	if err != nil {
		t.Fatal(err)
	}
	return mustParse(t, b)
}

var browsers = []struct{ fp, capture string }{{FPChrome, "chromium"}, {FPFirefox, "firefox"}}

func TestOurHelloHasTheBrowsersJA4SNIAndALPN(t *testing.T) {
	for _, b := range browsers {
		t.Run(b.fp, func(t *testing.T) {
			want := browserHello(t, b.capture)
			got := mustParse(t, captureOurHello(t, transports.Args{ArgServerName: testServerName, ArgFP: b.fp}))
			if got.JA4() != want.JA4() {
				t.Errorf("JA4 %s, the browser's is %s", got.JA4(), want.JA4())
			}
			if got.ServerName != testServerName {
				t.Errorf("SNI %q, want %q", got.ServerName, testServerName)
			}
			if !slices.Equal(got.ALPN, want.ALPN) || !slices.Equal(got.ALPN, []string{"h2", "http/1.1"}) {
				t.Errorf("ALPN %q, the browser's is %q", got.ALPN, want.ALPN)
			}
		})
	}
}

func TestClientJA4IsThatOfTheHellosItSends(t *testing.T) {
	for _, fp := range []string{FPChrome, FPFirefox, FPSafari} {
		t.Run(fp, func(t *testing.T) {
			args := transports.Args{ArgServerName: testServerName, ArgFP: fp, ArgFrag: "1"}
			tc, err := NewClient("", args, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tc.JA4()
			if err != nil {
				t.Fatal(err)
			}
			if sent := mustParse(t, captureOurHello(t, args)).JA4(); got != sent {
				t.Fatalf("Client.JA4 = %s; the hello it sent has %s", got, sent)
			}
		})
	}
}

// Extensions whose contents are per connection: the SNI is ours, key shares and the
// GREASE ECH payload are fresh random values, padding follows the length.
var perConnection = map[uint16]bool{extServerName: true, 0x0033: true, 0xfe0d: true, 0x0015: true}

// greaseNormalised maps GREASE values to one, for comparing lists whose GREASE is random.
func greaseNormalised(vs []uint16) []uint16 {
	out := slices.Clone(vs)
	for i, v := range out {
		if isGREASE(v) {
			out[i] = 0x0a0a
		}
	}
	return out
}

func TestOurHelloCopiesTheBrowsersContents(t *testing.T) {
	for _, b := range browsers {
		t.Run(b.fp, func(t *testing.T) {
			want := browserHello(t, b.capture)
			got := mustParse(t, captureOurHello(t, transports.Args{ArgServerName: testServerName, ArgFP: b.fp}))
			if !slices.Equal(greaseNormalised(got.CipherSuites), greaseNormalised(want.CipherSuites)) {
				t.Errorf("cipher suites %04x, the browser's are %04x", got.CipherSuites, want.CipherSuites)
			}
			if !slices.Equal(greaseNormalised(got.SignatureAlgorithms), greaseNormalised(want.SignatureAlgorithms)) {
				t.Errorf("signature algorithms %04x, the browser's are %04x", got.SignatureAlgorithms, want.SignatureAlgorithms)
			}
			wantExts := map[uint16][]byte{}
			for _, e := range want.Extensions {
				if !isGREASE(e.Type) {
					wantExts[e.Type] = e.Data
				}
			}
			for _, e := range got.Extensions {
				if isGREASE(e.Type) {
					continue
				}
				w, ok := wantExts[e.Type]
				if !ok {
					t.Errorf("extension %04x is not in the browser's hello", e.Type)
					continue
				}
				delete(wantExts, e.Type)
				if perConnection[e.Type] {
					continue
				}
				if g, w := greaseMasked(e.Data), greaseMasked(w); !bytes.Equal(g, w) {
					t.Errorf("extension %04x is %x, the browser's is %x", e.Type, g, w)
				}
			}
			for typ := range wantExts {
				t.Errorf("the browser's extension %04x is missing", typ)
			}
			if gotKS, wantKS := keyShareGroups(t, got), keyShareGroups(t, want); !slices.Equal(greaseNormalised(gotKS), greaseNormalised(wantKS)) {
				t.Errorf("key share groups %04x, the browser's are %04x", gotKS, wantKS)
			}
		})
	}
}

// greaseMasked replaces 16-bit GREASE values at any offset, so extensions that carry
// GREASE (supported_groups, supported_versions) compare by everything else.
func greaseMasked(b []byte) []byte {
	out := slices.Clone(b)
	for i := 0; i+1 < len(out); i++ {
		if out[i] == out[i+1] && out[i]&0x0f == 0x0a {
			out[i], out[i+1] = 0x0a, 0x0a
			i++
		}
	}
	return out
}

// keyShareGroups lists the groups of the key_share extension with each share's size.
func keyShareGroups(t *testing.T, h *ClientHello) []uint16 {
	t.Helper()
	for _, e := range h.Extensions {
		if e.Type != 0x0033 {
			continue
		}
		var groups []uint16
		d := e.Data[2:]
		for len(d) >= 4 {
			n := int(binary.BigEndian.Uint16(d[2:]))
			groups = append(groups, binary.BigEndian.Uint16(d), uint16(n))
			d = d[4+n:]
		}
		return groups
	}
	t.Fatal("no key_share extension")
	return nil
}

func extensionOrder(h *ClientHello) []uint16 {
	var order []uint16
	for _, e := range h.Extensions {
		order = append(order, e.Type)
	}
	return order
}

func TestChromeHelloVariesPerConnectionAsChromeDoes(t *testing.T) {
	const n = 12
	var hellos []*ClientHello
	for range n {
		hellos = append(hellos, mustParse(t, captureOurHello(t, transports.Args{ArgServerName: testServerName, ArgFP: FPChrome})))
	}
	orders, greases, shares, echLens := map[string]bool{}, map[uint16]bool{}, map[string]bool{}, map[int]bool{}
	for _, h := range hellos {
		order := extensionOrder(h)
		orders[fmt.Sprint(greaseNormalised(order))] = true
		greases[h.CipherSuites[0]] = true
		if !isGREASE(order[0]) || !isGREASE(order[len(order)-1]) {
			t.Errorf("GREASE extensions are not first and last: %04x", order)
		}
		for _, e := range h.Extensions {
			switch e.Type {
			case 0x0033:
				shares[string(e.Data)] = true
			case 0xfe0d:
				// type, KDF, AEAD, config id, 32-byte enc, 2-byte length, then the payload
				// of 128, 160, 192 or 224 bytes plus a 16-byte tag.
				p := len(e.Data) - 42
				if !slices.Contains([]int{144, 176, 208, 240}, p) {
					t.Errorf("GREASE ECH payload of %d bytes, Chrome sends 144, 176, 208 or 240", p)
				}
				echLens[p] = true
			}
		}
	}
	// Each check below fails by chance with probability below 1e-6.
	if len(orders) < 2 {
		t.Errorf("%d connections all ordered their extensions alike; Chrome permutes them", n)
	}
	if len(greases) < 2 {
		t.Errorf("%d connections all used the cipher GREASE %04x; it must be random", n, hellos[0].CipherSuites[0])
	}
	if len(echLens) < 2 {
		t.Errorf("%d connections all sent a GREASE ECH payload of one size; Chrome picks among four", n)
	}
	if len(shares) != n {
		t.Errorf("%d connections sent only %d distinct key shares; they must be fresh", n, len(shares))
	}
}

func TestFirefoxHelloKeepsFirefoxsOrder(t *testing.T) {
	want := extensionOrder(browserHello(t, "firefox"))
	for range 3 {
		got := extensionOrder(mustParse(t, captureOurHello(t, transports.Args{ArgServerName: testServerName, ArgFP: FPFirefox})))
		if !slices.Equal(got, want) {
			t.Fatalf("extension order %04x, Firefox's is %04x", got, want)
		}
	}
}
