package decoy

type headerState int

const (
	hStart headerState = iota
	hName
	hSpaceBeforeValue
	hValue
	hSpaceAfterValue
	hAlmostDone
	hHeadAlmostDone
)

// headerLine follows nginx's header-line parser (underscores_in_headers off,
// ignore_invalid_headers on). Offsets count from the line's first byte.
type headerLine struct {
	state      headerState
	n          int
	nameEnd    int
	valueStart int
	valueEnd   int
	// invalid: the name has bytes nginx does not take in a name ('_' among them);
	// nginx skips such a line instead of refusing the request.
	invalid bool
}

// nameByte reports whether c belongs in a header name as nginx reads one.
func nameByte(c byte) bool { return isAlpha(c) || isDigit(c) || c == '-' }

// step reads the line's next byte: scanLine when a header line ends, scanDone when the
// blank line ending the head does.
func (h *headerLine) step(c byte) scanStatus {
	p := h.n
	h.n++
	switch h.state {
	case hStart:
		switch {
		case c == '\r':
			h.state = hHeadAlmostDone
		case c == '\n':
			return scanDone
		case c <= 0x20 || c == 0x7f || c == ':':
			return scanInvalid
		default:
			h.invalid = !nameByte(c)
			h.state = hName
		}
	case hName:
		switch {
		case nameByte(c):
		case c == ':':
			h.nameEnd = p
			h.state = hSpaceBeforeValue
		case c == '\r' || c == '\n':
			// A name alone: nginx keeps it, with an empty value.
			h.nameEnd, h.valueStart, h.valueEnd = p, p, p
			return h.end(c)
		case c <= 0x20 || c == 0x7f:
			return scanInvalid
		default:
			h.invalid = true
		}
	case hSpaceBeforeValue:
		switch c {
		case ' ':
		case '\r', '\n':
			h.valueStart, h.valueEnd = p, p
			return h.end(c)
		case 0:
			return scanInvalid
		default:
			h.valueStart = p
			h.state = hValue
		}
	case hValue, hSpaceAfterValue:
		switch c {
		case ' ':
			if h.state == hValue {
				h.valueEnd = p
				h.state = hSpaceAfterValue
			}
		case '\r', '\n':
			if h.state == hValue {
				h.valueEnd = p
			}
			return h.end(c)
		case 0:
			return scanInvalid
		default:
			h.state = hValue
		}
	case hAlmostDone:
		switch c {
		case '\n':
			return scanLine
		case '\r':
		default:
			return scanInvalid
		}
	case hHeadAlmostDone:
		if c != '\n' {
			return scanInvalid
		}
		return scanDone
	}
	return scanMore
}

func (h *headerLine) end(c byte) scanStatus {
	if c == '\n' {
		return scanLine
	}
	h.state = hAlmostDone
	return scanMore
}
