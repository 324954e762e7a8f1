package session

import (
	"bytes"
	"context"
	"errors"
	"io"
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

// FuzzServerHandshake feeds arbitrary bytes to the gateway's handshake: it must never
// panic, never answer a hello it rejects, and report exactly the bytes it read.
func FuzzServerHandshake(f *testing.F) {
	cc, _ := fuzzConfigs()
	hello := craftHello(f, cc)
	f.Add([]byte{})
	f.Add([]byte("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"))
	f.Add(bytes.Repeat([]byte{0}, 2000))
	f.Add(hello)
	f.Add(hello[:helloPrefixSize])
	f.Add(hello[:len(hello)-1])
	f.Fuzz(func(t *testing.T, data []byte) {
		_, sc := fuzzConfigs()
		sc.Replay = NewReplayCache(16)
		var written bytes.Buffer
		src := bytes.NewReader(data)
		sess, err := Server(context.Background(), bufferConn{r: src, w: &written}, sc)
		if err == nil {
			sess.Close()
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
		if again := b.marshal(nil, 0); !bytes.Equal(again, data[:b.size()]) {
			t.Fatal("a parsed client hello does not marshal back to its bytes")
		}
		if bound := b.appendBound(nil); !bytes.Equal(bound, data[:boundLen]) {
			t.Fatalf("binder covers %d bytes, the bound fields are %d", boundLen, len(bound))
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
	f.Add([]byte{0x04, 0xd0})
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

func FuzzServiceRequest(f *testing.F) {
	req, _ := appendServiceRequest(nil, "mls")
	f.Add(append(req, "data after"...))
	f.Add([]byte{0})
	f.Add([]byte{255, 'a'})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		service, err := readServiceRequest(r)
		if err != nil {
			return
		}
		if taken := len(data) - r.Len(); taken != 1+len(service) {
			t.Fatalf("read %d bytes for a %d-byte service name", taken, len(service))
		}
		again, err := appendServiceRequest(nil, service)
		if err != nil || !bytes.Equal(again, data[:1+len(service)]) {
			t.Fatalf("service %q does not marshal back to its request (%v)", service, err)
		}
	})
}
