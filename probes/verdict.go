package probes

import (
	"fmt"

	"github.com/umbrella-edge/edge/client/failure"
	"github.com/umbrella-edge/edge/transports/trust"
)

// Verdict says in a few words what happened to the line and, where the evidence allows,
// what a censor likely did: the table's last column. Explanation says it in a sentence.
func (r *Result) Verdict() string {
	switch {
	case r.Works() && r.Unmeasured != "":
		return "session works; data not measured (no probe service)"
	case r.Works():
		return "works"
	}
	return verdict(r.Failure, r.Family == "udp")
}

// Explanation is the classifier's sentence for a person (failure.Error.Explain), or,
// for a line that works, what was left out.
func (r *Result) Explanation() string {
	if r.Failure != nil {
		return r.Failure.Explain()
	}
	return r.Unmeasured
}

func verdict(e *failure.Error, udp bool) string {
	first := "the first packet"
	if e.TLS {
		first = "the TLS ClientHello"
	}
	switch e.Cause {
	case failure.Refused:
		return "connection refused: nothing listens there, or a censor answered for it"
	case failure.Unreachable:
		if udp {
			return "no answer to the QUIC handshake: UDP or QUIC blocked, or the bridge is down"
		}
		return "no answer to the connect: the address is blocked, or the bridge is down"
	case failure.Reset:
		switch {
		case e.Step == failure.StepData:
			return "reset while carrying data: a censor cutting connections of this kind"
		case e.TLS:
			return "reset after the TLS ClientHello: SNI or fingerprint filtering"
		}
		return "reset after the first packet: protocol filtering"
	case failure.Silent:
		if e.TLS {
			return "silent after the TLS ClientHello: dropped by SNI, fingerprint or address filtering"
		}
		return "silent after " + first + ": dropped (fully encrypted traffic, or an address block), or a wrong secret"
	case failure.Frozen:
		// Bytes the transport delivered after its handshake: the wire carried more
		// (the handshake, TLS records), which is what a censor counts.
		return fmt.Sprintf("frozen after %s of data: a censor stalls connections after their first kilobytes", failure.SizeText(e.Bytes))
	case failure.Website:
		return "answered as a website: wrong secret or clock"
	case failure.ClockOff:
		return "device clock " + failure.SkewText(e.Skew) + ": set the clock"
	case failure.Closed:
		return "closed without an answer: a wrong secret, or a censor cutting it"
	case failure.Auth:
		return "the gateway did not prove its key: a wrong key=, or interception"
	case failure.Certificate:
		if e.Reason == trust.WrongName {
			return "certificate for another name: TLS interception, or a wrong servername="
		}
		return "certificate refused (" + e.Reason.String() + "): TLS interception"
	case failure.NoName:
		return "the name does not exist (NXDOMAIN): DNS blocking, or a wrong name"
	case failure.NoAnswer:
		return "the name did not resolve: DNS blocked or failing"
	}
	return "failed at the " + e.Step.String()
}
