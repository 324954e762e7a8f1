package censor

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"strings"

	quicgo "github.com/quic-go/quic-go"

	"github.com/umbrella-edge/edge/transports/tlskit"
)

// judgeDatagrams reads a QUIC flow's ClientHello from its client Initials, over as many
// datagrams as it spans, and intercepts the flow when its server name is chosen: the
// censor then answers the client's QUIC handshake itself (see interceptQUIC).
func (p *MITM) judgeDatagrams(_ *Censor, _ Flow) func(d []byte) (Verdict, string) {
	var r initialReader
	seen := 0
	return func(d []byte) (Verdict, string) {
		seen++
		crypto, err := r.add(d)
		switch {
		case err != nil && seen == 1:
			return "", "" // not QUIC: nothing to intercept
		case err != nil:
			return Pass, fmt.Sprintf("QUIC: no complete ClientHello, then %v", err)
		}
		h, err := tlskit.ParseClientHelloMessage(crypto)
		if h == nil && !errors.Is(err, tlskit.ErrTruncatedHello) {
			return Pass, fmt.Sprintf("QUIC Initial without a readable ClientHello: %v", err)
		}
		if h == nil || !h.Complete {
			if seen < quicReassembleDatagrams {
				return undecided, ""
			}
			return Pass, fmt.Sprintf("QUIC: no complete ClientHello in %d datagrams", seen)
		}
		if !matchName(h.ServerName, p.Names) {
			return Pass, fmt.Sprintf("QUIC to %q is not intercepted", h.ServerName)
		}
		return Intercepted, fmt.Sprintf("QUIC to %q terminated with the censor's CA", h.ServerName)
	}
}

// interceptQUIC answers the client of f with a QUIC server of the censor's own, fed
// with the client's datagrams (in) and writing to it through the route's socket, whose
// certificate the censor's CA issues for the name the client asks for. A client that
// finishes the handshake is relayed stream by stream to a QUIC connection the censor
// opens to the upstream; one that refuses is recorded as Refused, with its reaction.
func (f *udpFlow) interceptQUIC(m *MITM, in *flowPacketConn) {
	tr := &quicgo.Transport{Conn: in}
	defer tr.Close()
	defer in.Close()
	ln, err := tr.ListenEarly(&tls.Config{
		GetConfigForClient: func(chi *tls.ClientHelloInfo) (*tls.Config, error) {
			name := chi.ServerName
			if name == "" {
				name = f.info.Upstream.Addr().String()
			}
			return &tls.Config{
				GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return f.c.ca.leaf(name) },
				// Whatever the client offers first: the upstream is asked for it.
				NextProtos: chi.SupportedProtos,
			}, nil
		},
	}, &quicgo.Config{HandshakeIdleTimeout: f.c.dialTimeout})
	if err != nil {
		f.c.log.Info("QUIC interception failed", "flow", f.info.String(), "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(f.c.ctx, f.c.dialTimeout)
	defer cancel()
	client, err := ln.Accept(ctx)
	if err != nil {
		return
	}
	select {
	case <-client.HandshakeComplete():
	case <-client.Context().Done():
		r := quicReaction(context.Cause(client.Context()))
		f.c.decisions.addDecision(Decision{Policy: m.Name(), Flow: f.info, Verdict: Refused, Reaction: &r,
			Reason: "the client refused the censor's certificate: " + r.String()})
		return
	}
	f.relayQUIC(m, client)
}

// quicReaction describes how a QUIC client ended the handshake: the TLS alert in its
// CONNECTION_CLOSE (RFC 9001 section 4.8: error code 0x100 plus the alert), and the
// reason phrase it gave.
func quicReaction(cause error) Reaction {
	r := Reaction{Close: "silent"}
	var te *quicgo.TransportError
	if errors.As(cause, &te) && te.Remote {
		r.Close = "connection_close"
		r.Phrase = te.ErrorMessage
		if te.ErrorCode >= 0x100 && te.ErrorCode < 0x200 {
			r.Alert = strings.TrimPrefix(tls.AlertError(te.ErrorCode-0x100).Error(), "tls: ")
		}
	}
	return r
}

// relayQUIC connects to the upstream with the client's ALPN and relays every stream
// between the two connections until either ends.
func (f *udpFlow) relayQUIC(m *MITM, client *quicgo.Conn) {
	st := client.ConnectionState().TLS
	ctx, cancel := context.WithTimeout(f.c.ctx, f.c.dialTimeout)
	up, err := quicgo.DialAddr(ctx, f.info.Upstream.String(), &tls.Config{
		ServerName: st.ServerName,
		NextProtos: []string{st.NegotiatedProtocol},
		// The censor has nothing at stake in the server's identity; a lab server's
		// certificate is self-signed.
		InsecureSkipVerify: !m.Verify, //nolint:gosec
	}, nil)
	cancel()
	if err != nil {
		client.CloseWithError(0, "")
		f.c.log.Info("QUIC interception: upstream unreachable", "flow", f.info.String(), "err", err)
		return
	}
	defer up.CloseWithError(0, "")
	defer client.CloseWithError(0, "")
	done := make(chan struct{}, 2)
	go func() { f.relayStreams(client, up, true); done <- struct{}{} }()
	go func() { f.relayStreams(up, client, false); done <- struct{}{} }()
	<-done
}

// relayStreams accepts the bidirectional streams from opens and relays each to a new
// stream of to, until either connection ends. HTTP/3's unidirectional control streams
// are not relayed: the lab's clients carry one bidirectional stream.
func (f *udpFlow) relayStreams(from, to *quicgo.Conn, fromClient bool) {
	up, down := &f.c2s, &f.s2c
	if !fromClient {
		up, down = down, up
	}
	for {
		a, err := from.AcceptStream(f.c.ctx)
		if err != nil {
			return
		}
		b, err := to.OpenStreamSync(f.c.ctx)
		if err != nil {
			a.CancelRead(0)
			a.Close()
			return
		}
		go func() { n, _ := io.Copy(b, a); up.Add(n); b.Close() }()
		go func() { n, _ := io.Copy(a, b); down.Add(n); a.Close() }()
	}
}
