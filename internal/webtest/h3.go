package webtest

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

	"github.com/umbrella-edge/edge/transports/decoy"
)

// quicDataFrame is the type of the quic transport's carrier data frames, an HTTP/3
// reserved type (RFC 9114 section 7.2.8), as transports/quic/frame.go defines it. It is
// written here again, as a prober that read the code would write it.
const quicDataFrame = 0x1f*0x150 + 0x21

// QUICCarrierFrames is what a client that knows the quic transport's framing but not the
// bridge secret sends: data frames of sizes bytes of filler each.
func QUICCarrierFrames(sizes ...int) []byte {
	var b []byte
	for _, n := range sizes {
		b = quicvarint.Append(quicvarint.Append(b, quicDataFrame), uint64(n))
		b = append(b, bytes.Repeat([]byte{0xa7}, n)...)
	}
	return b
}

// BuiltInPage is what the built-in decoy site answers a GET of path on host.
func BuiltInPage(t testing.TB, host, path string) (int, []byte) {
	t.Helper()
	rec := httptest.NewRecorder()
	decoy.BuiltIn().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "https://"+host+path, nil))
	return rec.Code, rec.Body.Bytes()
}

// H3Peer is an HTTP/3 client written out frame by frame, so a test can put any frames
// on a request stream ahead of the request, as a prober would.
type H3Peer struct {
	qc         *quicgo.Conn
	serverName string
}

// DialH3 connects to addr as an HTTP/3 client of serverName and opens its control
// stream with an empty SETTINGS frame, as every HTTP/3 client must (RFC 9114 section
// 6.2.1). The connection closes when the test ends.
func DialH3(t testing.TB, addr, serverName string) *H3Peer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	tlsConf := &tls.Config{ServerName: serverName, NextProtos: []string{"h3"}, InsecureSkipVerify: true}
	qc, err := quicgo.DialAddr(ctx, addr, tlsConf, &quicgo.Config{HandshakeIdleTimeout: hangGuard})
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
	return &H3Peer{qc: qc, serverName: serverName}
}

// Get sends prefix, then a GET for path, on a new request stream, and reads the
// response.
func (p *H3Peer) Get(t testing.TB, prefix []byte, path string) (status string, body []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	s, err := p.qc.OpenStreamSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s.SetDeadline(time.Now().Add(hangGuard))
	var block bytes.Buffer
	enc := qpack.NewEncoder(&block)
	for _, f := range []qpack.HeaderField{
		{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: "https"},
		{Name: ":authority", Value: p.serverName}, {Name: ":path", Value: path},
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
	return readH3Response(t, s)
}

// readH3Response reads HTTP/3 frames until the stream ends: the status from HEADERS,
// the body from DATA.
func readH3Response(t testing.TB, s *quicgo.Stream) (status string, body []byte) {
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
