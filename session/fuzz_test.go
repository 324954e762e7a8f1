package session

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"slices"
	"testing"
	"time"
)

// fuzzNow fixes the clock of both sides, so a seed hello stays fresh.
var fuzzNow = time.Unix(1_800_000_000, 0)

func fuzzConfigs() (*ClientConfig, *ServerConfig) {
	cc, sc := testConfigs()
	now := func() time.Time { return fuzzNow }
	cc.Now, sc.Now = now, now
	sc.Store = nil
	return cc, sc
}

// FuzzServerHandshake feeds arbitrary bytes to the gateway's handshake, new and
// resume hellos: it must never panic, never answer a hello it rejects, and report
// exactly the bytes it read. The only answer to a hello that opens no session is the
// signed rejection of an authentic resume hello (the fuzzing gateway keeps no
// sessions).
func FuzzServerHandshake(f *testing.F) {
	cc, sc := fuzzConfigs()
	hello := craftHello(f, cc)
	resume := craftResumeHello(f, cc, sc)
	f.Add([]byte{})
	f.Add([]byte("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"))
	f.Add(bytes.Repeat([]byte{0}, 2000))
	f.Add(hello)
	f.Add(hello[:helloPrefixSize])
	f.Add(hello[:len(hello)-1])
	f.Add(resume)
	f.Add(resume[:len(resume)-1])
	f.Add(withVersion(f, cc, hello, 1))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, sc := fuzzConfigs()
		sc.Replay = NewReplayCache(16)
		sc.Sessions = NewRegistry()
		var written bytes.Buffer
		src := bytes.NewReader(data)
		sess, _, err := Server(context.Background(), bufferConn{r: src, w: &written}, sc)
		if err == nil {
			sess.Close()
			return
		}
		if errors.Is(err, ErrResumeRejected) {
			if written.Len() == 0 {
				t.Fatal("Server rejected a resume hello without telling the client")
			}
			return
		}
		var he *HelloError
		if !errors.As(err, &he) {
			t.Fatalf("Server: %v, want a *HelloError", err)
		}
		if written.Len() != 0 {
			t.Fatalf("Server rejected a hello (%s) and wrote %d bytes", he.Reason, written.Len())
		}
		taken := len(data) - src.Len()
		if !bytes.Equal(he.Consumed, data[:taken]) {
			t.Fatalf("Consumed holds %d bytes, but Server read the first %d", len(he.Consumed), taken)
		}
	})
}

// FuzzParseClientHelloBody covers new and resume hello bodies: what parses marshals
// back to the same bytes, and the binder's part ends where the binder starts.
// craftResumeHello builds a resume hello with a ticket that sc's gateway issued, for a
// session it does not have.
func craftResumeHello(t testing.TB, cc *ClientConfig, sc *ServerConfig) []byte {
	t.Helper()
	pub, _, err := kemScheme.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	pb, err := pub.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	rs := [32]byte{1, 2, 3}
	ticket, err := issueTicket(sc.Identity, ID{9}, rs, fuzzNow)
	if err != nil {
		t.Fatal(err)
	}
	body := clientHelloBody{kind: kindResume, publicKey: pb, received: 5, ticket: ticket}
	hello, _, err := buildClientHello(cc, appendEndpoint(nil, cc.Endpoint), &body, &rs)
	if err != nil {
		t.Fatal(err)
	}
	return hello
}

func FuzzParseClientHelloBody(f *testing.F) {
	body := clientHelloBody{kind: kindNew, timestamp: 42, publicKey: make([]byte, kemPublicKeySize)}
	f.Add(body.marshal(nil, 0))
	f.Add(body.marshal(nil, 17))
	f.Add([]byte{protocolVersion, kindResume})
	resume := body
	resume.kind, resume.received, resume.ticket, resume.binder = kindResume, 1<<40, randomBytes(ticketSize), randomBytes(binderSize)
	f.Add(resume.marshal(nil, 0))
	f.Add(resume.marshal(nil, 9))
	f.Add(resume.marshal(nil, 0)[:resume.size()-1])
	f.Fuzz(func(t *testing.T, data []byte) {
		b, boundLen, err := parseClientHelloBody(data)
		if err != nil {
			return
		}
		// Extensions are checked by FuzzParseExtensions: unknown ones are skipped, so
		// they do not marshal back.
		b.ext = helloExtensions{}
		if again := b.marshal(nil, 0); !bytes.Equal(again, data[:b.size()]) {
			t.Fatal("a parsed client hello does not marshal back to its bytes")
		}
		if bound := b.appendBound(nil); !bytes.Equal(bound, data[:boundLen]) {
			t.Fatalf("binder covers %d bytes, the bound fields are %d", boundLen, len(bound))
		}
	})
}

// FuzzParseExtensions feeds arbitrary hello padding to the extension parser: what it
// accepts lies within the input and marshals back to what parses the same.
func FuzzParseExtensions(f *testing.F) {
	f.Add(make([]byte, 16))
	f.Add(helloExtensions{aeads: []aeadID{aeadAES256GCM, aeadChaCha20Poly1305}}.marshal())
	f.Add([]byte{0x12, 0x34, 0, 2, 9, 9, 0, extAEAD, 0, 1, 2})
	f.Fuzz(func(t *testing.T, data []byte) {
		e, n, err := parseExtensions(data)
		if err != nil {
			return
		}
		if n > len(data) {
			t.Fatalf("extensions of %d bytes in %d", n, len(data))
		}
		again, _, err := parseExtensions(e.marshal())
		if err != nil || !slices.Equal(again.aeads, e.aeads) {
			t.Fatalf("extensions %v marshal to what parses as %v, %v", e.aeads, again.aeads, err)
		}
	})
}

// FuzzServerHelloBody feeds arbitrary opened server hellos to the client's parser.
func FuzzServerHelloBody(f *testing.F) {
	body := serverHelloBody{kind: kindNew, ciphertext: make([]byte, kemCiphertextSize), signature: make([]byte, 64)}
	f.Add(body.marshal(nil, 0))
	body.ticket, body.received = []byte("ticket"), 77
	f.Add(body.marshal(nil, 30))
	body.kind = kindRejected
	f.Add(body.marshal(nil, 0))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, signedLen, err := parseServerHelloBody(data)
		if err != nil {
			return
		}
		if signedLen+len(b.signature) > len(data) {
			t.Fatalf("signed part of %d bytes and signature overrun a %d-byte body", signedLen, len(data))
		}
		if again := b.appendSigned(nil); !bytes.Equal(again, data[:signedLen]) {
			t.Fatal("a parsed server hello does not marshal back to its signed bytes")
		}
	})
}

// FuzzClientHandshake answers a client hello with arbitrary bytes: the client must
// fail with ErrNoAnswer, never panic or accept.
func FuzzClientHandshake(f *testing.F) {
	f.Add([]byte{})
	f.Add(randomBytes(serverPrefixSize))
	f.Add(randomBytes(2000))
	f.Fuzz(func(t *testing.T, data []byte) {
		cc, _ := fuzzConfigs()
		sess, err := Client(context.Background(), bufferConn{r: bytes.NewReader(data), w: io.Discard}, cc)
		if err == nil {
			sess.Close()
			t.Fatal("client accepted an arbitrary answer")
		}
		if !errors.Is(err, ErrNoAnswer) {
			t.Fatalf("Client: %v, want ErrNoAnswer", err)
		}
	})
}

// FuzzRecords feeds arbitrary carrier bytes to a record reader: the stream ends
// cleanly or with ErrRecord, and nothing panics.
func FuzzRecords(f *testing.F) {
	w, wire := recordWriter(f)
	w.Write([]byte("first"))
	w.Write(bytes.Repeat([]byte("x"), maxRecordData+5))
	f.Add(wire.Bytes())
	f.Add([]byte{0xff, 0xff})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		rc := recordReader(t, bytes.NewReader(data))
		_, err := io.Copy(io.Discard, rc)
		if err != nil && !errors.Is(err, ErrRecord) {
			t.Fatalf("read records: %v, want a clean end or ErrRecord", err)
		}
	})
}

// FuzzFrames parses arbitrary record plaintexts: what parses as a control frame
// marshals back to the same data.
func FuzzFrames(f *testing.F) {
	for _, c := range []control{{typ: frameAck, a: 1 << 33, b: 7}, {typ: framePing, a: 3}, {typ: frameOffset, a: 9}, {typ: frameClose}} {
		d := c.appendData(nil)
		f.Add(append([]byte{c.typ, 0, byte(len(d))}, d...))
	}
	f.Add([]byte{frameData, 0, 3, 'a', 'b', 'c', 0, 0})
	f.Add([]byte{framePadding, 0, 0, 0, 0})
	f.Add([]byte{frameAck, 0, 15})
	f.Fuzz(func(t *testing.T, p []byte) {
		typ, data, err := parseFrame(p)
		if err != nil || typ == frameData || typ == framePadding {
			return
		}
		c, err := parseControl(typ, data)
		if err != nil {
			t.Fatalf("parseFrame accepted a control frame that parseControl refuses: %v", err)
		}
		if again := c.appendData(nil); !bytes.Equal(again, data) {
			t.Fatalf("control frame %+v marshals to %x, parsed from %x", c, again, data)
		}
	})
}

// FuzzTicket opens arbitrary tickets: only ones the gateway sealed open, and they
// say what was sealed.
func FuzzTicket(f *testing.F) {
	_, sc := fuzzConfigs()
	key, err := ticketKey(sc.Identity)
	if err != nil {
		f.Fatal(err)
	}
	want := ticketContents{id: ID{1, 2}, rs: [32]byte{3}, issued: 4}
	good, err := sealTicket(key, want)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add(make([]byte, ticketSize))
	f.Fuzz(func(t *testing.T, ticket []byte) {
		got, err := openTicket(key, ticket)
		if err != nil {
			return
		}
		// Fuzzing workers seal their own seed (another nonce), so only the
		// contents are compared: the one ticket sealed holds want.
		if got != want {
			t.Fatalf("opened a ticket the gateway did not seal: %+v", got)
		}
	})
}

// FuzzLinkFrames feeds a link a carrier of arbitrary authenticated frames (the input
// is split into frames: a type byte, a length byte, that much data). Whatever the peer
// says, the link never panics, and delivers exactly the stream a simple model of the
// frames gives: offset frames place the data that follows, bytes already delivered
// are skipped, and a violation (data before any offset, an offset past what was
// delivered, an ack of bytes never sent) or a close ends it.
func FuzzLinkFrames(f *testing.F) {
	frame := func(typ byte, data ...byte) []byte { return append([]byte{typ, byte(len(data))}, data...) }
	be := func(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
	f.Add(slices.Concat(frame(frameOffset, be(0)...), frame(frameData, 'h', 'i'), frame(framePing, be(1)...)))
	f.Add(slices.Concat(frame(frameData, 'x')))
	f.Add(slices.Concat(frame(frameOffset, be(0)...), frame(frameData, 'a', 'b'), frame(frameOffset, be(1)...), frame(frameData, 'b', 'c')))
	f.Add(slices.Concat(frame(frameAck, append(be(1<<40), be(0)...)...)))
	f.Add(slices.Concat(frame(frameOffset, be(5)...)))
	f.Add(slices.Concat(frame(frameClose)))
	f.Fuzz(func(t *testing.T, in []byte) {
		w, wire := recordWriter(t)
		var want []byte
		cursor, placed, stopped := 0, false, false
		for len(in) >= 2 {
			typ, n := in[0], min(int(in[1]), len(in)-2)
			data := in[2 : 2+n]
			in = in[2+n:]
			c, err := parseControl(typ, data)
			switch {
			case err == nil:
				w.send([]control{c}, nil)
			case typ == frameData:
				w.send(nil, [][]byte{data})
			default:
				continue
			}
			switch {
			case stopped:
			case typ == frameData && len(data) > 0 && !placed,
				typ == frameOffset && c.a > uint64(len(want)),
				typ == frameAck && c.a > 0,
				typ == frameClose:
				stopped = true
			case typ == frameOffset:
				cursor, placed = int(c.a), true
			case typ == frameData:
				for _, b := range data {
					if cursor == len(want) {
						want = append(want, b)
					}
					cursor++
				}
			}
		}
		l := newLink(0, nil)
		l.onDetach = func(err error) { l.end(err, false) } // the carrier's end is the input's
		l.onFatal = func(err error) { l.end(err, false) }
		if err := l.attach(recordReader(t, wire), 0, nil); err != nil {
			t.Fatal(err)
		}
		var got []byte
		buf := make([]byte, 7)
		for {
			n, err := l.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				break
			}
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("link delivered %x, the frames say %x", got, want)
		}
	})
}
