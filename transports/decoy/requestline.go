package decoy

// This file and headerline.go read a request head byte by byte as nginx 1.22 does
// (ngx_http_parse_request_line, ngx_http_parse_header_line), so that the decoy
// answers a malformed or cut-short request at the same byte as nginx: at once when
// nginx refuses, not when a line ends, and not at all while nginx would still wait.

// scanStatus is what reading one more byte of a head led to.
type scanStatus int

const (
	scanMore     scanStatus = iota // go on
	scanLine                       // a line (request or header) is complete
	scanDone                       // the head is complete
	scanInvalid                    // nginx answers 400
	scanVersion                    // nginx answers 505
	scan09Method                   // an HTTP/0.9 request other than GET: 400
)

type lineState int

const (
	rlStart lineState = iota
	rlMethod
	rlSpacesBeforeURI
	rlSchema
	rlSchemaSlash
	rlSchemaSlashSlash
	rlHostStart
	rlHost
	rlHostEnd
	rlHostIPLiteral
	rlPort
	rlAfterSlashInURI
	rlCheckURI
	rlURI
	rlHTTP09
	rlHTTPH
	rlHTTPHT
	rlHTTPHTT
	rlHTTPHTTP
	rlFirstMajorDigit
	rlMajorDigit
	rlFirstMinorDigit
	rlMinorDigit
	rlSpacesAfterDigit
	rlAlmostDone
)

// requestLine follows nginx's request-line parser. Offsets count from the line's
// first byte (after the blank lines nginx skips before a request).
type requestLine struct {
	state              lineState
	n                  int // bytes of the line so far
	methodEnd          int
	uriStart, uriEnd   int
	hostStart, hostEnd int // of an absolute URI; hostEnd 0 when none
	schemaEnd          int
	major, minor       int
	sawVersion         bool
}

// uriByte reports whether c may sit in a URI without a second look (nginx's "usual"
// table): printable ASCII but for space, '#', '%', '/', '?', '.' and '+', and every
// byte with the high bit set.
func uriByte(c byte) bool {
	if c >= 0x80 {
		return true
	}
	if c <= 0x20 || c == 0x7f {
		return false
	}
	switch c {
	case '#', '%', '/', '?', '.', '+':
		return false
	}
	return true
}

func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func isAlpha(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// step reads c, the line's next byte. At rlStart, CR and LF are skipped (the caller
// does not count them as the line's).
func (r *requestLine) step(c byte) scanStatus {
	p := r.n
	r.n++
	switch r.state {
	case rlStart:
		if c == '\r' || c == '\n' {
			r.n = 0
			return scanMore
		}
		if !isUpper(c) && c != '_' && c != '-' {
			return scanInvalid
		}
		r.state = rlMethod
	case rlMethod:
		if c == ' ' {
			r.methodEnd = p
			r.state = rlSpacesBeforeURI
		} else if !isUpper(c) && c != '_' && c != '-' {
			return scanInvalid
		}
	case rlSpacesBeforeURI:
		switch {
		case c == '/':
			r.uriStart = p
			r.state = rlAfterSlashInURI
		case isAlpha(c):
			r.state = rlSchema
		case c != ' ':
			return scanInvalid
		}
	case rlSchema:
		switch {
		case isAlpha(c) || isDigit(c) || c == '+' || c == '-' || c == '.':
		case c == ':':
			r.schemaEnd = p
			r.state = rlSchemaSlash
		default:
			return scanInvalid
		}
	case rlSchemaSlash, rlSchemaSlashSlash:
		if c != '/' {
			return scanInvalid
		}
		r.state++
	case rlHostStart, rlHost, rlHostEnd:
		return r.host(c, p)
	case rlHostIPLiteral:
		switch {
		case isAlpha(c) || isDigit(c):
		case c == ']':
			r.state = rlHostEnd
		case c == ':' || c == '-' || c == '.' || c == '_' || c == '~',
			c == '!' || c == '$' || c == '&' || c == '\'' || c == '(' || c == ')',
			c == '*' || c == '+' || c == ',' || c == ';' || c == '=':
		default:
			return scanInvalid
		}
	case rlPort:
		switch {
		case isDigit(c):
		case c == '/', c == '?':
			r.uriStart = p
			r.state = rlURI
			if c == '/' {
				r.state = rlAfterSlashInURI
			}
		case c == ' ':
			r.uriStart, r.uriEnd = -1, -1 // "/", as nginx takes it
			r.state = rlHTTP09
		default:
			return scanInvalid
		}
	case rlAfterSlashInURI, rlCheckURI, rlURI:
		return r.uri(c, p)
	default:
		return r.version(c)
	}
	return scanMore
}

// host reads the host of an absolute URI ("http://host[:port]/...").
func (r *requestLine) host(c byte, p int) scanStatus {
	if r.state == rlHostStart {
		r.hostStart = p
		if c == '[' {
			r.state = rlHostIPLiteral
			return scanMore
		}
		r.state = rlHost
	}
	if r.state == rlHost && (isAlpha(c) || isDigit(c) || c == '.' || c == '-') {
		return scanMore
	}
	r.hostEnd = p
	switch c {
	case ':':
		r.state = rlPort
	case '/':
		r.uriStart = p
		r.state = rlAfterSlashInURI
	case '?':
		r.uriStart = p
		r.state = rlURI
	case ' ':
		r.uriStart, r.uriEnd = -1, -1
		r.state = rlHTTP09
	default:
		return scanInvalid
	}
	return scanMore
}

// uri reads the path and query; nginx only looks closer at the bytes uriByte lets by.
func (r *requestLine) uri(c byte, p int) scanStatus {
	if uriByte(c) {
		if r.state == rlAfterSlashInURI {
			r.state = rlCheckURI
		}
		return scanMore
	}
	switch c {
	case ' ':
		r.uriEnd = p
		r.state = rlHTTP09
	case '\r':
		r.uriEnd = p
		r.state = rlAlmostDone
	case '\n':
		r.uriEnd = p
		return r.done()
	case '/':
		if r.state == rlCheckURI {
			r.state = rlAfterSlashInURI
		} else {
			r.state = rlURI
		}
	case '.', '%', '?', '#':
		if r.state == rlAfterSlashInURI || c != '.' {
			r.state = rlURI
		}
	case '+':
	default: // control bytes
		return scanInvalid
	}
	return scanMore
}

// version reads " HTTP/major.minor" and the line's end.
func (r *requestLine) version(c byte) scanStatus {
	switch r.state {
	case rlHTTP09:
		switch c {
		case ' ':
		case '\r':
			r.state = rlAlmostDone
		case '\n':
			return r.done()
		case 'H':
			r.state = rlHTTPH
		default:
			return scanInvalid
		}
	case rlHTTPH, rlHTTPHT, rlHTTPHTT, rlHTTPHTTP:
		if c != "TTP/"[r.state-rlHTTPH] {
			return scanInvalid
		}
		r.state++
	case rlFirstMajorDigit:
		if c < '1' || c > '9' {
			return scanInvalid
		}
		r.major, r.sawVersion = int(c-'0'), true
		if r.major > 1 {
			return scanVersion
		}
		r.state = rlMajorDigit
	case rlMajorDigit:
		switch {
		case c == '.':
			r.state = rlFirstMinorDigit
		case !isDigit(c):
			return scanInvalid
		default:
			if r.major = 10*r.major + int(c-'0'); r.major > 1 {
				return scanVersion
			}
		}
	case rlFirstMinorDigit:
		if !isDigit(c) {
			return scanInvalid
		}
		r.minor = int(c - '0')
		r.state = rlMinorDigit
	case rlMinorDigit:
		switch {
		case c == '\r':
			r.state = rlAlmostDone
		case c == '\n':
			return r.done()
		case c == ' ':
			r.state = rlSpacesAfterDigit
		case !isDigit(c) || r.minor > 99:
			return scanInvalid
		default:
			r.minor = 10*r.minor + int(c-'0')
		}
	case rlSpacesAfterDigit:
		switch c {
		case ' ':
		case '\r':
			r.state = rlAlmostDone
		case '\n':
			return r.done()
		default:
			return scanInvalid
		}
	case rlAlmostDone:
		if c != '\n' {
			return scanInvalid
		}
		return r.done()
	}
	return scanMore
}

func (r *requestLine) done() scanStatus {
	if !r.sawVersion {
		r.minor = 9 // HTTP/0.9: no version, no header
	}
	return scanLine
}

// http09 reports whether the line was an HTTP/0.9 request.
func (r *requestLine) http09() bool { return !r.sawVersion }
