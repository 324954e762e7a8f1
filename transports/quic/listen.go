package quic

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	quicgo "github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/umbrella-edge/edge/transports"
)

// serverHandshake bounds a peer's QUIC handshake on the server, which need not be
// short: a slow client is not a blocked one.
const serverHandshake = 10 * time.Second

// HTTP/3 error codes (RFC 9114 section 8.1) for streams the listener turns away.
const (
	codeStreamCreation  quicgo.StreamErrorCode = 0x103 // H3_STREAM_CREATION_ERROR
	codeRequestRejected quicgo.StreamErrorCode = 0x10b // H3_REQUEST_REJECTED
)

// ServerConfig is a QUIC carrier listener's configuration.
type ServerConfig struct {
	// Addr is the UDP address to bind.
	Addr string
	// TLS is the server's TLS configuration; NextProtos should be {"h3"}.
	TLS *tls.Config
	// Wrap, if set, wraps the listener's UDP socket: quicobfs masks datagrams there.
	Wrap func(net.PacketConn) net.PacketConn
	// Decoy is the website HTTP/3 peers see. Nil makes the listener silent: no
	// version negotiation, no HTTP/3, and streams that are not carriers are reset.
	Decoy http.Handler
	// Tune, if set, adjusts the QUIC configuration.
	Tune func(*quicgo.Config)
	// BridgeArgs are returned by the listener's BridgeArgs.
	BridgeArgs transports.Args
	// Logger receives the listener's events; nil discards them.
	Logger *slog.Logger
}

// Listen starts a QUIC carrier listener. Each QUIC connection whose first stream (ID 0)
// opens with a carrier data frame is accepted as a carrier. With a Decoy, every other
// stream is served as HTTP/3 by quic-go's http3, the server opens HTTP/3's control
// stream on every connection as any HTTP/3 server does, and accepted carriers are
// transports.Rejecters that carry on as HTTP/3 request streams when the gateway turns
// the peer away. A browser's first stream is a control stream or a request stream
// that opens with HEADERS, never a carrier frame, so it goes straight to HTTP/3.
//
// Closing the listener stops new connections and ends those that are not carriers;
// accepted carriers keep the UDP socket open until they end.
func Listen(ctx context.Context, cfg ServerConfig) (transports.Listener, error) {
	pconn, err := (&net.ListenConfig{}).ListenPacket(ctx, "udp", cfg.Addr)
	if err != nil {
		return nil, err
	}
	var pc net.PacketConn = pconn
	if cfg.Wrap != nil {
		pc = cfg.Wrap(pconn)
	}
	silent := cfg.Decoy == nil
	tr := &quicgo.Transport{Conn: pc, DisableVersionNegotiationPackets: silent}
	qcfg := &quicgo.Config{
		Versions:             []quicgo.Version{quicgo.Version1},
		HandshakeIdleTimeout: serverHandshake,
		MaxIdleTimeout:       idleTimeout,
		InitialPacketSize:    chromeInitialSize,
	}
	if cfg.Tune != nil {
		cfg.Tune(qcfg)
	}
	ln, err := tr.Listen(cfg.TLS, qcfg)
	if err != nil {
		tr.Close()
		pconn.Close()
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	args := cfg.BridgeArgs.Clone()
	if args == nil {
		args = transports.Args{}
	}
	l := &listener{
		pconn:    pconn,
		tr:       tr,
		ln:       ln,
		args:     args,
		log:      log,
		accepted: make(chan net.Conn),
		closing:  make(chan struct{}),
		live:     make(map[*quicgo.Conn]bool),
	}
	if !silent {
		// No HTTP/3 idle timer: it would count a carrier's connection as idle, since
		// the carrier stream is not HTTP/3's. The QUIC idle timeout closes idle ones.
		l.h3 = &http3.Server{Handler: cfg.Decoy}
	}
	l.conns.Add(1)
	go l.acceptLoop()
	return l, nil
}

type listener struct {
	pconn net.PacketConn
	tr    *quicgo.Transport
	ln    *quicgo.Listener
	h3    *http3.Server // nil when silent
	args  transports.Args
	log   *slog.Logger

	accepted  chan net.Conn
	closing   chan struct{}
	closeOnce sync.Once
	conns     sync.WaitGroup // the accept loop and one per QUIC connection

	mu     sync.Mutex
	closed bool
	live   map[*quicgo.Conn]bool // true once one of its streams was accepted as a carrier
}

func (l *listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.accepted:
		return c, nil
	case <-l.closing:
		return nil, fmt.Errorf("accept: %w", net.ErrClosed)
	}
}

func (l *listener) Addr() net.Addr { return l.pconn.LocalAddr() }

func (l *listener) BridgeArgs() transports.Args { return l.args.Clone() }

func (l *listener) Close() error {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.closed = true
		close(l.closing)
		var others []*quicgo.Conn
		for qc, carrier := range l.live {
			if !carrier {
				others = append(others, qc)
			}
		}
		l.mu.Unlock()
		l.ln.Close()
		for _, qc := range others {
			qc.CloseWithError(codeNoError, "")
		}
		go func() {
			l.conns.Wait()
			l.tr.Close()
			l.pconn.Close()
		}()
	})
	return nil
}

func (l *listener) acceptLoop() {
	defer l.conns.Done()
	for {
		qc, err := l.ln.Accept(context.Background())
		if err != nil {
			return
		}
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			qc.CloseWithError(codeNoError, "")
			continue
		}
		l.live[qc] = false
		l.conns.Add(1)
		l.mu.Unlock()
		go l.serve(qc)
	}
}

// serve takes one QUIC connection's streams until it ends.
func (l *listener) serve(qc *quicgo.Conn) {
	defer func() {
		l.mu.Lock()
		delete(l.live, qc)
		l.mu.Unlock()
		l.conns.Done()
	}()
	var h3 *http3.RawServerConn
	if l.h3 != nil {
		var err error
		if h3, err = l.h3.NewRawServerConn(qc); err != nil {
			l.log.Debug("HTTP/3 control stream", "err", err)
			qc.CloseWithError(codeNoError, "")
			return
		}
	}
	var streams sync.WaitGroup
	defer streams.Wait()
	streams.Go(func() {
		for {
			s, err := qc.AcceptUniStream(context.Background())
			if err != nil {
				return
			}
			if h3 == nil {
				s.CancelRead(codeStreamCreation)
				continue
			}
			streams.Go(func() { h3.HandleUnidirectionalStream(s) })
		}
	})
	for {
		s, err := qc.AcceptStream(context.Background())
		if err != nil {
			return
		}
		streams.Go(func() { l.route(qc, h3, s) })
	}
}

// route hands a bidirectional stream to the gateway as a carrier, or to HTTP/3.
func (l *listener) route(qc *quicgo.Conn, h3 *http3.RawServerConn, s *quicgo.Stream) {
	if s.StreamID() == 0 {
		// Peek leaves a request's HEADERS frame unread for HTTP/3.
		if h, err := peekHeader(s); err == nil && h.typ == frameData {
			c := newConn(qc, s, true)
			var nc net.Conn = c
			if h3 != nil {
				nc = &decoyConn{conn: c, h3: h3}
			}
			if !l.deliver(qc, nc) {
				c.finish(codeCancelled)
			}
			return
		}
	}
	if h3 != nil {
		h3.HandleRequestStream(s)
		return
	}
	s.CancelRead(codeRequestRejected)
	s.CancelWrite(codeRequestRejected)
}

// deliver gives a carrier to Accept, unless the listener closes first.
func (l *listener) deliver(qc *quicgo.Conn, c net.Conn) bool {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return false
	}
	l.live[qc] = true // Close leaves it alone from now on
	l.mu.Unlock()
	select {
	case l.accepted <- c:
		return true
	case <-l.closing:
		return false
	}
}
