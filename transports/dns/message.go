package dns

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	dnsmsg "github.com/miekg/dns"
)

// DNS message sizes.
const (
	// ednsSize is the UDP payload size both sides advertise and the server's answers
	// stay within: DNS Flag Day 2020's 1232 bytes, which fits an IPv6 packet at the
	// minimum MTU without fragmenting, and what unbound, BIND and the big public
	// resolvers advertise.
	ednsSize = 1232
	// classicSize is the limit for a query without EDNS0 (RFC 1035 section 4.2.1).
	classicSize = 512
	// paddingBlock pads queries over TLS and HTTPS to a multiple of 128 bytes, the
	// policy RFC 8467 recommends for clients and Chromium and Firefox use for DoH.
	paddingBlock = 128
	// answerHeader is an answer record's bytes before its data when its owner name is
	// a compression pointer: name 2, type 2, class 2, TTL 4, data length 2.
	answerHeader = 12
	// maxTXTString is the longest character string (RFC 1035 section 3.3).
	maxTXTString = 255
)

// answerTTL is the TTL of the tunnel's TXT answers: 0, so no resolver keeps a name
// that will never be asked again (each is unique), as some load balancers and CDNs
// answer too.
const answerTTL = 0

// buildQuery packs a TXT query for name with id, asking for recursion and advertising
// EDNS0 as a stub resolver does; pad adds RFC 7830 padding for TLS and HTTPS.
func buildQuery(name string, id uint16, pad bool) ([]byte, error) {
	m := new(dnsmsg.Msg)
	m.Id = id
	m.RecursionDesired = true
	m.Question = []dnsmsg.Question{{Name: name, Qtype: dnsmsg.TypeTXT, Qclass: dnsmsg.ClassINET}}
	m.SetEdns0(ednsSize, false)
	if pad {
		opt := m.IsEdns0()
		p := &dnsmsg.EDNS0_PADDING{}
		opt.Option = append(opt.Option, p)
		// The padding option's own 4 bytes are already in Len.
		if rest := m.Len() % paddingBlock; rest != 0 {
			p.Padding = make([]byte, paddingBlock-rest)
		}
	}
	return m.Pack()
}

// txtAnswer is the answer record for the question q carrying payload: a TXT record of
// as many character strings as payload needs, built as RFC 3597 data because
// miekg/dns keeps TXT strings in presentation form and payload is binary.
func txtAnswer(q dnsmsg.Question, payload []byte) dnsmsg.RR {
	rdata := make([]byte, 0, len(payload)+len(payload)/maxTXTString+1)
	for len(payload) > 0 || len(rdata) == 0 {
		n := min(len(payload), maxTXTString)
		rdata = append(rdata, byte(n))
		rdata = append(rdata, payload[:n]...)
		payload = payload[n:]
	}
	return &dnsmsg.RFC3597{
		Hdr:   dnsmsg.RR_Header{Name: q.Name, Rrtype: dnsmsg.TypeTXT, Class: dnsmsg.ClassINET, Ttl: answerTTL},
		Rdata: hex.EncodeToString(rdata),
	}
}

// payloadRoom returns how many payload bytes a TXT answer may add to resp without
// its packed size passing limit; resp has everything else already.
func payloadRoom(resp *dnsmsg.Msg, limit int) int {
	avail := limit - resp.Len() - answerHeader
	if avail <= 1 {
		return 0
	}
	// k strings of up to 255 bytes take k length bytes.
	return avail - (avail+maxTXTString)/(maxTXTString+1)
}

// An answer is what the client makes of the resolver's response to one of its queries.
type answer struct {
	id      uint16
	name    string // the question's name, canonical
	rcode   int
	payload []byte // the TXT data, its character strings joined
	// soa is the owner of the SOA record in the authority section, canonical: the zone
	// whose server gave a negative answer.
	soa string
}

var errNotAnswer = errors.New("not an answer to a TXT query")

// parseAnswer unpacks a response from the resolver.
func parseAnswer(raw []byte) (answer, error) {
	m := new(dnsmsg.Msg)
	if err := m.Unpack(raw); err != nil {
		return answer{}, fmt.Errorf("unpack response: %w", err)
	}
	if !m.Response || len(m.Question) != 1 || m.Question[0].Qtype != dnsmsg.TypeTXT {
		return answer{}, errNotAnswer
	}
	a := answer{id: m.Id, name: canonical(m.Question[0].Name), rcode: m.Rcode}
	for _, rr := range m.Ns {
		if rr.Header().Rrtype == dnsmsg.TypeSOA {
			a.soa = canonical(rr.Header().Name)
		}
	}
	for _, rr := range m.Answer {
		if _, ok := rr.(*dnsmsg.TXT); !ok || !strings.EqualFold(rr.Header().Name, m.Question[0].Name) {
			continue
		}
		var generic dnsmsg.RFC3597
		if err := generic.ToRFC3597(rr); err != nil {
			return answer{}, fmt.Errorf("TXT data: %w", err)
		}
		rdata, err := hex.DecodeString(generic.Rdata)
		if err != nil {
			return answer{}, fmt.Errorf("TXT data: %w", err)
		}
		for len(rdata) > 0 {
			n := int(rdata[0])
			if 1+n > len(rdata) {
				return answer{}, errors.New("TXT data: character string overruns the record")
			}
			a.payload = append(a.payload, rdata[1:1+n]...)
			rdata = rdata[1+n:]
		}
		break // one record per answer; a second would be a resolver's oddity
	}
	return a, nil
}

// rcodeNoError is a response's success code.
const rcodeNoError = dnsmsg.RcodeSuccess

// rcodeName names rcode as RFC 6895 does ("SERVFAIL").
func rcodeName(rcode int) string {
	if s, ok := dnsmsg.RcodeToString[rcode]; ok {
		return s
	}
	return fmt.Sprintf("RCODE%d", rcode)
}
