package quic

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/quic-go/qpack"
	quicgo "github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/quicvarint"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/decoy"
)

// hangGuard bounds every wait in these tests; it only turns a hang into a failure.
const hangGuard = 20 * time.Second

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), hangGuard)
	t.Cleanup(cancel)
	return ctx
}

// listenLoopback starts a quic listener on 127.0.0.1 that lives as long as the test.
func listenLoopback(t *testing.T) transports.Listener {
	t.Helper()
	ln, err := New().Listen(context.Background(), transports.ListenConfig{
		Addr:     "127.0.0.1:0",
		Args:     transports.Args{argServerName: testServerName},
		StateDir: t.TempDir(),
	})
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// dialerFor builds a dialer for ln from the listener's bridge arguments.
func dialerFor(t *testing.T, ln transports.Listener) *Dialer {
	t.Helper()
	d, err := newDialer(ln.Addr().String(), ln.BridgeArgs())
	if err != nil {
		t.Fatalf("NewDialer(%v): %v", ln.BridgeArgs(), err)
	}
	return d
}

// builtInPage is what the built-in decoy site answers for path.
func builtInPage(t *testing.T, path string) (int, []byte) {
	t.Helper()
	rec := httptest.NewRecorder()
	decoy.BuiltIn().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "https://"+testServerName+path, nil))
	return rec.Code, rec.Body.Bytes()
}

// h3Peer is an HTTP/3 client written out frame by frame, so a test can put any frames
// on a request stream ahead of the request, as a prober would.
type h3Peer struct {
	qc *quicgo.Conn
}

// dialH3 connects to addr as an HTTP/3 client and opens its control stream with an
// empty SETTINGS frame, as every HTTP/3 client must (RFC 9114 section 6.2.1).
func dialH3(t *testing.T, addr string) *h3Peer {
	t.Helper()
	tlsConf := &tls.Config{ServerName: testServerName, NextProtos: []string{"h3"}, InsecureSkipVerify: true}
	qc, err := quicgo.DialAddr(testContext(t), addr, tlsConf, &quicgo.Config{HandshakeIdleTimeout: hangGuard})
	if err != nil {
		t.Fatalf("QUIC handshake as an HTTP/3 client: %v", err)
	}
	t.Cleanup(func() { qc.CloseWithError(0x100, "") })
	ctrl, err := qc.OpenUniStream()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ctrl.Write([]byte{0x00, 0x04, 0x00}); err != nil { // control stream, SETTINGS{}
		t.Fatal(err)
	}
	return &h3Peer{qc: qc}
}

// get sends prefix, then a GET for path, on a new request stream, and reads the
// response.
func (p *h3Peer) get(t *testing.T, prefix []byte, path string) (status string, body []byte) {
	t.Helper()
	s, err := p.qc.OpenStreamSync(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	s.SetDeadline(time.Now().Add(hangGuard))
	var block bytes.Buffer
	enc := qpack.NewEncoder(&block)
	for _, f := range []qpack.HeaderField{
		{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: "https"},
		{Name: ":authority", Value: testServerName}, {Name: ":path", Value: path},
		{Name: "user-agent", Value: "Mozilla/5.0"},
	} {
		enc.WriteField(f)
	}
	req := append(bytes.Clone(prefix), quicvarint.Append(quicvarint.Append(nil, 0x01), uint64(block.Len()))...)
	req = append(req, block.Bytes()...)
	if _, err := s.Write(req); err != nil {
		t.Fatalf("writing the request: %v", err)
	}
	s.Close()
	return readResponse(t, s)
}

// readResponse reads HTTP/3 frames until the stream ends: the status from HEADERS,
// the body from DATA.
func readResponse(t *testing.T, s *quicgo.Stream) (status string, body []byte) {
	t.Helper()
	r := quicvarint.NewReader(s)
	for {
		typ, err := quicvarint.Read(r)
		if errors.Is(err, io.EOF) {
			return status, body
		}
		if err != nil {
			t.Fatalf("reading the response (status %q so far): %v", status, err)
		}
		n, err := quicvarint.Read(r)
		if err != nil {
			t.Fatalf("reading a frame length: %v", err)
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(r, payload); err != nil {
			t.Fatalf("reading a %d-byte frame: %v", n, err)
		}
		switch typ {
		case 0x00:
			body = append(body, payload...)
		case 0x01:
			next := qpack.NewDecoder().Decode(payload)
			for {
				f, err := next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("decoding response headers: %v", err)
				}
				if f.Name == ":status" {
					status = f.Value
				}
			}
		}
	}
}

// carrierFrames is what a client that knows the carrier's framing but not the bridge
// secret sends: data frames of random bytes.
func carrierFrames(sizes ...int) []byte {
	var b []byte
	for _, n := range sizes {
		b = appendHeader(b, frameData, n)
		b = append(b, bytes.Repeat([]byte{0xa7}, n)...)
	}
	return b
}
