package dns

import (
	"bytes"
	"testing"

	dnsmsg "github.com/miekg/dns"
)

// FuzzDecodeName feeds the server's name decoder what a resolver may pass on: any
// labels under the zone. It must not panic, and what it accepts must encode back.
func FuzzDecodeName(f *testing.F) {
	m := newMasker(testDomain)
	for _, packets := range [][][]byte{nil, {[]byte("packet")}, fullPackets(testDomain)} {
		name, _ := encodeName(m, testDomain, [nonceSize]byte{1}, clientID{2}, packets)
		prefix, _ := inZone(canonical(name), testDomain)
		f.Add(prefix)
	}
	f.Add("www")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, prefix string) {
		u, err := decodeName(m, canonical(prefix))
		if err != nil {
			return
		}
		name, err := encodeName(m, testDomain, u.nonce, u.id, u.packets)
		if err != nil {
			return // decodable, but longer than a name the client makes
		}
		back, _ := inZone(canonical(name), testDomain)
		again, err := decodeName(m, back)
		if err != nil || again.id != u.id || len(again.packets) != len(u.packets) {
			t.Fatalf("re-encoded %q does not decode the same: %v", name, err)
		}
	})
}

// FuzzUnpackDown feeds the client's payload parser any TXT data.
func FuzzUnpackDown(f *testing.F) {
	m := newMasker(testDomain)
	f.Add([]byte{})
	f.Add(packDown(m, [nonceSize]byte{}, [][]byte{[]byte("one"), []byte("two")}))
	f.Fuzz(func(t *testing.T, b []byte) {
		packets, err := unpackDown(m, [nonceSize]byte{}, append([]byte(nil), b...))
		if err != nil {
			return
		}
		if again := packDown(m, [nonceSize]byte{}, packets); !bytes.Equal(again, b) {
			t.Fatalf("accepted %x but packs back as %x", b, again)
		}
	})
}

// FuzzClassify feeds the authoritative server any message, over UDP and TCP. It must
// not panic, and an answer must be a response within the size the asker allows.
func FuzzClassify(f *testing.F) {
	z := newZone(testDomain)
	f.Add(query(testDomain, dnsmsg.TypeSOA, nil), false)
	f.Add(query("www."+testDomain, dnsmsg.TypeTXT, nil), true)
	f.Add(query("example.com", dnsmsg.TypeA, nil), false)
	name, _ := encodeName(z.mask, testDomain, [nonceSize]byte{1}, clientID{2}, [][]byte{[]byte("x")})
	f.Add(query(name, dnsmsg.TypeTXT, nil), false)
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, false)
	f.Fuzz(func(t *testing.T, raw []byte, overTCP bool) {
		out, q := z.classify(raw, overTCP)
		if q != nil {
			payload := packDown(z.mask, q.up.nonce, [][]byte{make([]byte, max(q.room()-downFrame, 0))})
			if out, err := q.pack(payload); err == nil {
				checkResponse(t, out, q.limit)
			}
			return
		}
		if out != nil {
			checkResponse(t, out, maxTCPResponse)
		}
	})
}

func checkResponse(t *testing.T, out []byte, limit int) {
	t.Helper()
	if len(out) > limit {
		t.Fatalf("a %d-byte answer, over the asker's %d", len(out), limit)
	}
	if len(out) < 12 || out[2]&0x80 == 0 {
		t.Fatalf("answer %x is not a response", out)
	}
}

// FuzzParseAnswer feeds the client's response parser any message from the resolver.
func FuzzParseAnswer(f *testing.F) {
	z := newZone(testDomain)
	name, _ := encodeName(z.mask, testDomain, [nonceSize]byte{1}, clientID{2}, nil)
	_, q := z.classify(query(name, dnsmsg.TypeTXT, nil), false)
	ok, _ := q.pack(packDown(z.mask, q.up.nonce, [][]byte{[]byte("data")}))
	f.Add(ok)
	nx, _ := z.classify(query("www."+testDomain, dnsmsg.TypeTXT, nil), false)
	f.Add(nx)
	f.Fuzz(func(t *testing.T, raw []byte) {
		a, err := parseAnswer(raw)
		if err != nil {
			return
		}
		unpackDown(z.mask, [nonceSize]byte{}, a.payload)
	})
}
