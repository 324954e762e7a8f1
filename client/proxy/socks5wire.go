package proxy

import (
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
)

// SOCKS5 wire values, RFC 1928 and (username/password) RFC 1929.
const (
	socksVersion     = 0x05
	userPassVersion  = 0x01 // RFC 1929 §2: the subnegotiation's own version
	methodNoAuth     = 0x00
	methodUserPass   = 0x02
	methodNoneWanted = 0xFF

	cmdConnect = 0x01

	atypIPv4   = 0x01
	atypDomain = 0x03
	atypIPv6   = 0x04
)

// SOCKS5 reply codes, RFC 1928 §6.
const (
	replySucceeded           byte = 0x00
	replyGeneralFailure      byte = 0x01
	replyNotAllowed          byte = 0x02
	replyHostUnreachable     byte = 0x04
	replyConnectionRefused   byte = 0x05
	replyCommandNotSupported byte = 0x07
	replyAddressNotSupported byte = 0x08
)

// socksRequest is a SOCKS5 request as the app sent it.
type socksRequest struct {
	Command byte
	Host    string // the domain name, or the IP literal in its canonical spelling
	Port    uint16
}

// errAddressType is a request whose address type the proxy cannot parse, so it cannot
// read the rest; the app is told 0x08.
var errAddressType = fmt.Errorf("%w: socks5 address type", ErrUnsupported)

// readSOCKS5Greeting reads the method selection message: VER NMETHODS METHODS.
func readSOCKS5Greeting(r io.Reader) (methods []byte, err error) {
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, fmt.Errorf("read socks5 greeting: %w", err)
	}
	if hdr[0] != socksVersion {
		return nil, fmt.Errorf("%w: socks version %d in greeting", ErrMalformed, hdr[0])
	}
	methods = make([]byte, hdr[1])
	if _, err := io.ReadFull(r, methods); err != nil {
		return nil, fmt.Errorf("read socks5 greeting methods: %w", err)
	}
	return methods, nil
}

// readUserPass reads an RFC 1929 request (VER ULEN UNAME PLEN PASSWD) and discards the
// credentials: the proxy is on loopback and apps that insist on sending some must work.
func readUserPass(r io.Reader) error {
	var b [2]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return fmt.Errorf("read socks5 username: %w", err)
	}
	if b[0] != userPassVersion {
		return fmt.Errorf("%w: username/password version %d", ErrMalformed, b[0])
	}
	if _, err := io.CopyN(io.Discard, r, int64(b[1])); err != nil {
		return fmt.Errorf("read socks5 username: %w", noEOF(err))
	}
	if _, err := io.ReadFull(r, b[:1]); err != nil {
		return fmt.Errorf("read socks5 password: %w", noEOF(err))
	}
	if _, err := io.CopyN(io.Discard, r, int64(b[0])); err != nil {
		return fmt.Errorf("read socks5 password: %w", noEOF(err))
	}
	return nil
}

// readSOCKS5Request reads VER CMD RSV ATYP DST.ADDR DST.PORT. A request with a command
// other than CONNECT is returned whole, so the caller can answer 0x07.
func readSOCKS5Request(r io.Reader) (socksRequest, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return socksRequest{}, fmt.Errorf("read socks5 request: %w", err)
	}
	if hdr[0] != socksVersion {
		return socksRequest{}, fmt.Errorf("%w: socks version %d in request", ErrMalformed, hdr[0])
	}
	req := socksRequest{Command: hdr[1]}
	switch hdr[3] {
	case atypIPv4, atypIPv6:
		buf := make([]byte, 16)
		if hdr[3] == atypIPv4 {
			buf = buf[:4]
		}
		if _, err := io.ReadFull(r, buf); err != nil {
			return socksRequest{}, fmt.Errorf("read socks5 address: %w", noEOF(err))
		}
		a, _ := netip.AddrFromSlice(buf)
		req.Host = a.Unmap().String()
	case atypDomain:
		var n [1]byte
		if _, err := io.ReadFull(r, n[:]); err != nil {
			return socksRequest{}, fmt.Errorf("read socks5 domain length: %w", noEOF(err))
		}
		if n[0] == 0 {
			return socksRequest{}, fmt.Errorf("%w: empty socks5 domain name", ErrMalformed)
		}
		name := make([]byte, n[0])
		if _, err := io.ReadFull(r, name); err != nil {
			return socksRequest{}, fmt.Errorf("read socks5 domain: %w", noEOF(err))
		}
		req.Host = string(name)
	default:
		return socksRequest{}, fmt.Errorf("%w %d", errAddressType, hdr[3])
	}
	var port [2]byte
	if _, err := io.ReadFull(r, port[:]); err != nil {
		return socksRequest{}, fmt.Errorf("read socks5 port: %w", noEOF(err))
	}
	req.Port = binary.BigEndian.Uint16(port[:])
	return req, nil
}

// socksReply is a reply with an all-zero IPv4 bound address: the app has no use for
// the address the stream left from, and it would only say which gateway we use.
func socksReply(code byte) []byte {
	return []byte{socksVersion, code, 0x00, atypIPv4, 0, 0, 0, 0, 0, 0}
}

// noEOF turns an EOF in the middle of a message into the truncation it is.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
