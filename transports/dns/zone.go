package dns

import (
	"encoding/binary"

	dnsmsg "github.com/miekg/dns"
)

// zone answers queries as the authoritative server of the tunnel's domain does: what
// is not a tunnel query gets the answer any authoritative server would give it.
type zone struct {
	name string // canonical
	mask *masker
	soa  *dnsmsg.SOA
}

// SOA timers of the zone, in seconds, as a small zone's (RFC 1912 section 2.2). The
// minimum, the TTL of negative answers (RFC 2308), is short: the names a resolver
// asks for on the way to a tunnel name (QNAME minimisation, RFC 9156) are answered
// NXDOMAIN and never asked again.
const (
	soaTTL     = 3600
	soaRefresh = 7200
	soaRetry   = 3600
	soaExpire  = 1209600
	soaMinimum = 60
	// soaSerial is a date-shaped serial, as operators write them.
	soaSerial = 2026010101
)

func newZone(domain string) *zone {
	fqdn := dnsmsg.Fqdn(domain)
	return &zone{
		name: canonical(domain),
		mask: newMasker(domain),
		soa: &dnsmsg.SOA{
			Hdr:     dnsmsg.RR_Header{Name: fqdn, Rrtype: dnsmsg.TypeSOA, Class: dnsmsg.ClassINET, Ttl: soaTTL},
			Ns:      "ns1." + fqdn,
			Mbox:    "hostmaster." + fqdn,
			Serial:  soaSerial,
			Refresh: soaRefresh,
			Retry:   soaRetry,
			Expire:  soaExpire,
			Minttl:  soaMinimum,
		},
	}
}

// Response codes, by the names of RFC 1035 and RFC 6895.
const (
	rcodeNXDomain = dnsmsg.RcodeNameError
	rcodeServFail = dnsmsg.RcodeServerFailure
)

// A tunnelQuery is a query that carries the tunnel: its reply waits for the packets
// its TXT answer will carry.
type tunnelQuery struct {
	up    upstream
	reply *dnsmsg.Msg // the response without its answer
	limit int         // the largest response the asker takes
}

// room is how many payload bytes the query's answer can carry.
func (q *tunnelQuery) room() int { return payloadRoom(q.reply, q.limit) }

// pack returns the response carrying payload (already packed and masked).
func (q *tunnelQuery) pack(payload []byte) ([]byte, error) {
	q.reply.Answer = []dnsmsg.RR{txtAnswer(q.reply.Question[0], payload)}
	return q.reply.Pack()
}

// truncated returns the response that tells the asker to ask again over TCP (RFC
// 7766): what the server answers when its next packet does not fit.
func (q *tunnelQuery) truncated() ([]byte, error) {
	q.reply.Answer = nil
	q.reply.Truncated = true
	return q.reply.Pack()
}

// maxTCPResponse bounds responses over TCP, where a message may be 64 KiB: a few
// packets' worth, so one answer does not hold the rest of the tunnel's queries up.
const maxTCPResponse = 4096

// classify reads one message that came to the server over UDP (overTCP false) or TCP.
// It returns the packed response to send at once, or a tunnelQuery whose response
// waits for data, or neither when the message deserves no answer (it is a response,
// or too short to have a header).
func (z *zone) classify(raw []byte, overTCP bool) ([]byte, *tunnelQuery) {
	const headerSize = 12
	if len(raw) < headerSize || raw[2]&0x80 != 0 { // QR set: not a query
		return nil, nil
	}
	req := new(dnsmsg.Msg)
	if err := req.Unpack(raw); err != nil {
		return formErr(raw), nil
	}
	resp := new(dnsmsg.Msg)
	resp.SetReply(req)
	resp.Compress = true
	resp.Authoritative = true
	limit := classicSize
	if overTCP {
		limit = maxTCPResponse
	}
	if opt := req.IsEdns0(); opt != nil {
		resp.SetEdns0(ednsSize, false)
		if opt.Version() != 0 {
			resp.Authoritative = false
			resp.Rcode = dnsmsg.RcodeBadVers
			return packOrNil(resp), nil
		}
		if !overTCP {
			limit = min(max(int(opt.UDPSize()), classicSize), ednsSize)
		}
	}
	if req.Opcode != dnsmsg.OpcodeQuery {
		return z.refuse(resp, dnsmsg.RcodeNotImplemented), nil
	}
	if len(req.Question) != 1 {
		return z.refuse(resp, dnsmsg.RcodeFormatError), nil
	}
	q := req.Question[0]
	prefix, ours := inZone(canonical(q.Name), z.name)
	if !ours || (q.Qclass != dnsmsg.ClassINET && q.Qclass != dnsmsg.ClassANY) {
		return z.refuse(resp, dnsmsg.RcodeRefused), nil
	}
	if prefix == "" {
		return z.apex(resp, q.Qtype), nil
	}
	if q.Qtype != dnsmsg.TypeTXT {
		return z.negative(resp, dnsmsg.RcodeNameError), nil
	}
	up, err := decodeName(z.mask, prefix)
	if err != nil {
		return z.negative(resp, dnsmsg.RcodeNameError), nil
	}
	return nil, &tunnelQuery{up: up, reply: resp, limit: limit}
}

// refuse answers with rcode and no data, not authoritatively: the query was not one
// the zone's server can answer.
func (z *zone) refuse(resp *dnsmsg.Msg, rcode int) []byte {
	resp.Authoritative = false
	resp.Rcode = rcode
	return packOrNil(resp)
}

// negative answers NXDOMAIN (rcode RcodeNameError) or NODATA (RcodeSuccess) with the
// zone's SOA, as RFC 2308 asks.
func (z *zone) negative(resp *dnsmsg.Msg, rcode int) []byte {
	resp.Rcode = rcode
	resp.Ns = []dnsmsg.RR{z.soa}
	return packOrNil(resp)
}

// apex answers a query for the zone's own name: its SOA, and NODATA for the rest.
func (z *zone) apex(resp *dnsmsg.Msg, qtype uint16) []byte {
	if qtype == dnsmsg.TypeSOA || qtype == dnsmsg.TypeANY {
		resp.Answer = []dnsmsg.RR{z.soa}
		return packOrNil(resp)
	}
	return z.negative(resp, dnsmsg.RcodeSuccess)
}

// formErr answers a message whose header could be read but not the rest: FORMERR
// with its ID and opcode, and no sections.
func formErr(raw []byte) []byte {
	flags := binary.BigEndian.Uint16(raw[2:])
	const opcodeMask, rdBit = 0x7800, 0x0100
	out := make([]byte, 12)
	copy(out, raw[:2])
	binary.BigEndian.PutUint16(out[2:], 0x8000|flags&(opcodeMask|rdBit)|dnsmsg.RcodeFormatError)
	return out
}

func packOrNil(m *dnsmsg.Msg) []byte {
	b, err := m.Pack()
	if err != nil {
		return nil
	}
	return b
}
