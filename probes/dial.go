package probes

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/umbrella-edge/edge/client/failure"
	"github.com/umbrella-edge/edge/session"
	"github.com/umbrella-edge/edge/transports"
)

// answerWait bounds the wait for the rest of a website's answer to a session hello
// (failure.Meter.FillHTTP): it comes in one piece, behind the bytes already read.
const answerWait = 200 * time.Millisecond

// resolve resolves the bridge's host name; an address that is an IP skips the step.
// The transports resolve the name again themselves, with the system's resolver.
func (lp *lineProbe) resolve(ctx context.Context) bool {
	host, _, err := net.SplitHostPort(lp.r.Line.Addr)
	if _, ipErr := netip.ParseAddr(host); err != nil || ipErr == nil {
		lp.skip(StepResolve, "the address is an IP")
		return true
	}
	s := lp.begin(StepResolve)
	s.Host, s.Resolver = host, "system"
	if lp.cfg.Resolver != net.DefaultResolver {
		s.Resolver = "configured"
	}
	sc := newStepContext(ctx, lp.cfg.StepTimeout)
	defer sc.stop()
	addrs, err := lp.cfg.Resolver.LookupHost(sc, host)
	if err != nil {
		return lp.end(s, failure.Classify(failure.Observation{Step: failure.StepResolve, Err: sc.err(err)}))
	}
	s.Addrs = addrs
	return lp.end(s, nil)
}

// dial runs the connect and transport handshake steps, which one Dial of the transport
// makes: its trace tells where the one ends and the other begins, and what TLS
// handshake the transport ran. Each has a step timeout of its own. It returns the
// carrier, and whether it began with a TLS ClientHello; nil when a step failed.
func (lp *lineProbe) dial(ctx context.Context) (net.Conn, bool) {
	b := lp.r.Line
	t, err := lp.cfg.Transports.Get(b.Transport)
	var d transports.Dialer
	if err == nil {
		d, err = t.NewDialer(b.Addr, b.Args)
	}
	if err != nil {
		lp.end(lp.begin(StepTransport), failure.Classify(failure.Observation{Step: failure.StepTransport, Err: err}))
		return nil, false
	}
	sc := newStepContext(ctx, lp.cfg.StepTimeout)
	defer sc.stop()
	// A pt line's connect is its program's, out of sight: the whole dial is the
	// transport's handshake.
	var connect, handshake *Step
	connected := false
	if b.Transport == "pt" {
		lp.skip(StepConnect, "the pluggable-transport program connects")
		handshake = lp.begin(StepTransport)
	} else {
		connect = lp.begin(StepConnect)
		connect.Network = "tcp"
		if lp.r.Family == "udp" {
			connect.Network = "udp"
		}
	}
	trace := &transports.Trace{
		Connected: func(network string, rtt time.Duration) {
			lp.mu.Lock()
			first := connect != nil && !connected
			if first {
				connected = true
				connect.Network, connect.RTT = network, rtt
			}
			lp.mu.Unlock()
			if first {
				lp.end(connect, nil)
				sc.reset()
				step := lp.begin(StepTransport)
				lp.mu.Lock()
				handshake = step
				lp.mu.Unlock()
			}
		},
		TLSHandshakeStart: func(serverName, ja4 string) {
			lp.mu.Lock()
			defer lp.mu.Unlock()
			if handshake != nil {
				handshake.TLS = &TLSHandshake{ServerName: serverName, JA4: ja4, Start: time.Since(lp.r.Start)}
			}
		},
		TLSHandshakeDone: func(err error) {
			lp.mu.Lock()
			defer lp.mu.Unlock()
			if h := handshake; h != nil && h.TLS != nil {
				h.TLS.Took, h.TLS.Done, h.TLS.Err = time.Since(lp.r.Start)-h.TLS.Start, true, err
			}
		},
	}
	conn, err := d.Dial(transports.WithTrace(sc, trace))
	lp.mu.Lock()
	step := handshake
	lp.mu.Unlock()
	if err != nil {
		err = sc.err(fmt.Errorf("dial: %w", err))
		if step == nil {
			lp.end(connect, failure.Classify(failure.Observation{Step: failure.StepConnect, Err: err}))
			return nil, false
		}
		lp.end(step, failure.Classify(failure.Observation{Step: handshakeStep(step.TLS), Err: err, TLS: step.TLS != nil}))
		return nil, false
	}
	if step == nil { // a transport that did not say when it connected
		lp.end(connect, nil)
		step = lp.begin(StepTransport)
	}
	lp.end(step, nil)
	return conn, step.TLS != nil
}

// handshakeStep is where in a failed transport handshake the failure came: in its TLS
// handshake, or after it.
func handshakeStep(tls *TLSHandshake) failure.Step {
	if tls != nil && (!tls.Done || tls.Err != nil) {
		return failure.StepTLS
	}
	return failure.StepTransport
}

// session runs the session handshake on the carrier.
func (lp *lineProbe) session(ctx context.Context, meter *failure.Meter, tls bool) *session.Session {
	s := lp.begin(StepSession)
	sc := newStepContext(ctx, lp.cfg.StepTimeout)
	defer sc.stop()
	b := lp.r.Line
	sess, err := session.Client(sc, meter, &session.ClientConfig{GatewayKey: b.Key, Secret: b.Secret, Endpoint: b.Endpoint()})
	if err != nil {
		// What the client's attempts keep of a failed carrier (client/attempt.go):
		// the rest of a website's answer, and the Date a front sent.
		meter.FillHTTP(answerWait)
		obs := failure.Observation{Step: failure.StepSession, Err: sc.err(err), TLS: tls,
			Received: meter.Received(), Head: meter.Head(), Local: time.Now()}
		if d, ok := meter.Conn.(transports.Dated); ok {
			obs.ServerDate = d.ServerDate()
		}
		lp.end(s, failure.Classify(obs))
		return nil
	}
	lp.end(s, nil)
	return sess
}
