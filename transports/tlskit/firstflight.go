package tlskit

import "encoding/binary"

// This file judges a peer's first flight as OpenSSL 3.0 behind nginx 1.22 judges it
// (Debian 12's pair, what most small HTTPS sites run), so that the gateway's own TLS
// listeners meet malformed input with the same alert, silence or wait. Every rule
// below was measured against that nginx with the probes of
// transports/internal/httpfront/probetest; the tests compare the two probe by probe.

// Limits of OpenSSL 3.0's server record layer.
const (
	// opensslReadBuffer is OpenSSL's read buffer. nginx turns read-ahead on, so
	// OpenSSL reads up to this much at once, and a record must fit in it whole: a
	// header announcing more than opensslReadBuffer-5 bytes is refused at once, and
	// bytes beyond the buffer stay unread (closing with them makes the kernel reset).
	opensslReadBuffer = 16709
	// maxClientHello is OpenSSL's CLIENT_HELLO_MAX_LENGTH.
	maxClientHello = 131396
	// maxEmptyRecords is how many empty records OpenSSL skips in a row.
	maxEmptyRecords = 32
	// minSSLv2Record is the shortest SSLv2-style ClientHello record OpenSSL reads.
	minSSLv2Record = 9
)

// TLS alert descriptions (RFC 8446 section 6.2).
const (
	alertUnexpectedMessage = 10
	alertRecordOverflow    = 22
	alertHandshakeFailure  = 40
	alertIllegalParameter  = 47
	alertDecodeError       = 50
	alertProtocolVersion   = 70
	alertMissingExtension  = 109
)

// extKeyShare is the extension TLS 1.3 requires (RFC 8446 section 9.2) besides those
// hello.go names.
const extKeyShare = 0x0033

// flightAction is what OpenSSL does next with a first flight.
type flightAction int

const (
	// needMore: wait for more bytes, reading no further than verdict.limit in all.
	needMore flightAction = iota
	// passHello: a whole ClientHello that OpenSSL would negotiate on; crypto/tls
	// takes the bytes from here.
	passHello
	// sendAlert: answer with one fatal alert, then close.
	sendAlert
	// hangUp: close without a word (the bytes are not TLS at all).
	hangUp
)

// A flightVerdict is OpenSSL's reaction to the bytes of a first flight so far.
type flightVerdict struct {
	action flightAction
	limit  int    // needMore
	end    int    // passHello: where the hello's last record ends
	alert  byte   // sendAlert: the description
	vers   uint16 // sendAlert: the alert record's version
	reason string // for logs
}

func more(limit int) flightVerdict { return flightVerdict{action: needMore, limit: limit} }

// alert is a fatal alert in a record of version 3.3, as OpenSSL sends all but those
// about the protocol version.
func alert(desc byte, reason string) flightVerdict {
	return flightVerdict{action: sendAlert, alert: desc, vers: 0x0303, reason: reason}
}

// judgeFlight returns OpenSSL's reaction to b, the bytes a peer sent so far on a
// connection whose first byte said TLS (0x16, or the high bit of an SSLv2 header).
func judgeFlight(b []byte) flightVerdict {
	if len(b) < 5 {
		return more(opensslReadBuffer)
	}
	if b[0]&0x80 != 0 && b[2] == handshakeTypeClientHello {
		return judgeSSLv2(b)
	}
	var hs []byte // the handshake message, gathered from the records' bodies
	first, empty := true, 0
	for pos := 0; ; {
		if len(b)-pos < 5 {
			return more(pos + opensslReadBuffer)
		}
		typ, vers, n := b[pos], binary.BigEndian.Uint16(b[pos+1:]), int(binary.BigEndian.Uint16(b[pos+3:]))
		switch {
		case vers>>8 != 3 && first:
			return flightVerdict{action: hangUp, reason: "not TLS"}
		case vers>>8 != 3:
			return alert(alertProtocolVersion, "bad record version")
		case n > opensslReadBuffer-5:
			return alert(alertRecordOverflow, "record too long")
		case len(b)-pos-5 < n:
			return more(pos + opensslReadBuffer)
		}
		body := b[pos+5 : pos+5+n]
		pos += 5 + n
		switch {
		case typ != recordTypeHandshake:
			return alert(alertUnexpectedMessage, "not a handshake record")
		case n == 0:
			if empty++; empty > maxEmptyRecords {
				return alert(alertUnexpectedMessage, "too many empty records")
			}
			continue
		case n > maxRecordPayload:
			return alert(alertRecordOverflow, "record too long")
		}
		first, empty = false, 0
		hs = append(hs, body...)
		if len(hs) < 4 {
			continue
		}
		if hs[0] != handshakeTypeClientHello {
			return alert(alertUnexpectedMessage, "not a ClientHello")
		}
		m := int(hs[1])<<16 | int(hs[2])<<8 | int(hs[3])
		if m > maxClientHello {
			return alert(alertIllegalParameter, "ClientHello too long")
		}
		if len(hs) >= 4+m {
			v := judgeHello(hs[4 : 4+m])
			v.end = pos
			return v
		}
	}
}

// judgeSSLv2 judges an SSLv2-style ClientHello (RFC 6101 appendix E.2), which
// OpenSSL still reads: it can only fail, there being no TLS 1.2 cipher it could
// agree on with an ECDSA certificate and no extensions.
func judgeSSLv2(b []byte) flightVerdict {
	n := int(b[0]&0x7f)<<8 | int(b[1])
	switch {
	case n > opensslReadBuffer-2:
		return alert(alertRecordOverflow, "SSLv2 record too long")
	case n < minSSLv2Record:
		return alert(alertDecodeError, "SSLv2 record too short")
	case len(b) < 2+n:
		return more(opensslReadBuffer)
	}
	body := b[2 : 2+n] // type, version, three lengths, then what they measure
	vers := binary.BigEndian.Uint16(body[1:])
	ciphers, sid, challenge := int(binary.BigEndian.Uint16(body[3:])), int(binary.BigEndian.Uint16(body[5:])), int(binary.BigEndian.Uint16(body[7:]))
	switch {
	case sid > 32:
		return alert(alertIllegalParameter, "SSLv2 session ID too long")
	case ciphers+sid+challenge != n-9:
		return alert(alertDecodeError, "SSLv2 lengths do not add up")
	case vers < 0x0303:
		return versionAlert(vers)
	}
	return alert(alertHandshakeFailure, "SSLv2 hello")
}

// versionAlert is OpenSSL's protocol_version alert, sent in a record of the
// client's own version.
func versionAlert(legacy uint16) flightVerdict {
	v := alert(alertProtocolVersion, "no version in common")
	if legacy>>8 == 3 && legacy < 0x0303 {
		v.vers = legacy
	}
	return v
}
