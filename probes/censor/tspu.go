package censor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	"github.com/umbrella-edge/edge/transports"
)

// tspuMinLength is the smallest datagram Russia's 2022 QUIC rule drops: client Initials
// are padded to at least 1200 bytes (RFC 9000 section 14.1), so 1001 catches every
// one of them and almost no DNS or game traffic. The rule and its numbers come from
// measurements posted on ntc.party (https://ntc.party/t/http-3-quic/1823) when the
// blocking began in March 2022 (https://github.com/net4people/bbs/issues/108).
const tspuMinLength = 1001

// TSPUQUIC is Russia's 2022 QUIC rule, as its TSPU boxes applied it from March 2022:
// a UDP flow to port 443 whose first datagram is at least 1001 bytes and starts with a
// QUIC long header carrying version 1 is dropped, whatever its server name. It reads
// no further than the version field, so QUIC whose packets do not show that field
// (masked, or another version) passes.
type TSPUQUIC struct {
	Scope
	// Port is the UDP destination port the rule watches, 443 as in Russia; 0 watches
	// every port, for a lab whose gateway listens elsewhere.
	Port uint16
}

func parseTSPUQUIC(args transports.Args, s Scope) (*TSPUQUIC, error) {
	if err := args.Unknown("port"); err != nil {
		return nil, err
	}
	p := &TSPUQUIC{Scope: s, Port: 443}
	switch v := args.Get("port", "443"); v {
	case "any":
		p.Port = 0
	default:
		n, err := strconv.ParseUint(v, 10, 16)
		if err != nil || n == 0 {
			return nil, &transports.ArgError{Key: "port", Err: fmt.Errorf("want a UDP port in 1..65535 or any, got %q", v)}
		}
		p.Port = uint16(n)
	}
	return p, nil
}

func (*TSPUQUIC) Name() string { return "tspu-quic" }

func (p *TSPUQUIC) String() string {
	port := "any"
	if p.Port != 0 {
		port = strconv.Itoa(int(p.Port))
	}
	return spec("tspu-quic", p.Scope, "port", port)
}

func (p *TSPUQUIC) judgeDatagram(_ *Censor, f Flow, d []byte) (Verdict, string) {
	if p.Port != 0 && f.Upstream.Port() != p.Port {
		return Pass, fmt.Sprintf("UDP to port %d, not %d", f.Upstream.Port(), p.Port)
	}
	if err := tspuMatch(d); err != nil {
		return Pass, err.Error()
	}
	return Drop, fmt.Sprintf("QUIC v1 long header in a %d-byte first datagram", len(d))
}

// errTSPUMiss is wrapped by tspuMatch's reasons for letting a datagram pass.
var errTSPUMiss = errors.New("TSPU QUIC rule does not match")

// tspuMatch reports, as an error saying why, whether d escapes the rule: nil means
// the rule drops it.
func tspuMatch(d []byte) error {
	switch {
	case len(d) < tspuMinLength:
		return fmt.Errorf("%w: %d-byte datagram, under %d", errTSPUMiss, len(d), tspuMinLength)
	case d[0]&0x80 == 0:
		return fmt.Errorf("%w: no QUIC long header", errTSPUMiss)
	case binary.BigEndian.Uint32(d[1:5]) != quicV1:
		return fmt.Errorf("%w: version field %#08x, not QUIC v1", errTSPUMiss, d[1:5])
	}
	return nil
}
