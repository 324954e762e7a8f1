package pt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/umbrella-edge/edge/transports"
)

// A PT client proxy learns a bridge's arguments the way Tor passes them: in the SOCKS5
// username and password (RFC 1929), as k=v pairs joined by ';'.

// Limits of RFC 1929's fields, which bound how many bytes of arguments fit.
const (
	maxAuthField = 255
	maxAuthTotal = 2 * maxAuthField
)

// socksAuth encodes args as Tor does (connection_or.c): k=v pairs sorted by key,
// joined by ';', with '\', '=' and ';' escaped by a backslash in keys and values; the
// first 255 bytes go in the username and the rest in the password, or the password is
// one NUL byte when everything fits in the username. No args means no authentication.
func socksAuth(args transports.Args) (user, pass []byte, err error) {
	if len(args) == 0 {
		return nil, nil, nil
	}
	parts := make([]string, 0, len(args))
	for _, k := range args.Keys() {
		if k == "" || strings.ContainsRune(k, 0) || strings.ContainsRune(args[k], 0) {
			// goptlib reads an empty key as an error and a lone NUL password as none.
			return nil, nil, fmt.Errorf("argument %q: empty, or holds a NUL byte", shorten(k))
		}
		parts = append(parts, escape(k, "=;")+"="+escape(args[k], "=;"))
	}
	enc := strings.Join(parts, ";")
	if len(enc) > maxAuthTotal {
		return nil, nil, fmt.Errorf("bridge arguments take %d bytes as SOCKS credentials; at most %d fit", len(enc), maxAuthTotal)
	}
	if len(enc) <= maxAuthField {
		return []byte(enc), []byte{0}, nil
	}
	return []byte(enc[:maxAuthField]), []byte(enc[maxAuthField:]), nil
}

// SOCKSError is a SOCKS5 reply other than success from a PT client proxy: usually it
// could not reach the bridge or complete the transport's handshake with it.
type SOCKSError struct{ Code byte }

func (e *SOCKSError) Error() string {
	reasons := map[byte]string{
		1: "general failure", 2: "not allowed", 3: "network unreachable", 4: "host unreachable",
		5: "connection refused", 6: "TTL expired", 7: "command not supported", 8: "address type not supported",
	}
	if r, ok := reasons[e.Code]; ok {
		return "SOCKS5 reply: " + r
	}
	return fmt.Sprintf("SOCKS5 reply %#x", e.Code)
}

// errSOCKSProtocol is wrapped by errors about a proxy that does not speak SOCKS5.
var errSOCKSProtocol = errors.New("SOCKS5 protocol error")

// socksConnect asks the SOCKS5 proxy on rw to connect to target (host:port),
// authenticating with user and pass when user is not nil. It reads exactly the
// proxy's replies, so what follows on rw is the tunnel.
func socksConnect(rw io.ReadWriter, target string, user, pass []byte) error {
	req, err := connectRequest(target)
	if err != nil {
		return err
	}
	method := byte(0x00)
	if user != nil {
		method = 0x02
	}
	if _, err := rw.Write([]byte{5, 1, method}); err != nil {
		return err
	}
	var choice [2]byte
	if _, err := io.ReadFull(rw, choice[:]); err != nil {
		return err
	}
	if choice[0] != 5 || choice[1] != method {
		return fmt.Errorf("%w: proxy chose method %#x, asked for %#x", errSOCKSProtocol, choice[1], method)
	}
	if user != nil {
		msg := append([]byte{1, byte(len(user))}, user...)
		msg = append(append(msg, byte(len(pass))), pass...)
		if _, err := rw.Write(msg); err != nil {
			return err
		}
		var status [2]byte
		if _, err := io.ReadFull(rw, status[:]); err != nil {
			return err
		}
		if status[0] != 1 || status[1] != 0 {
			return fmt.Errorf("%w: proxy refused the bridge arguments", errSOCKSProtocol)
		}
	}
	if _, err := rw.Write(req); err != nil {
		return err
	}
	var head [5]byte // VER REP RSV ATYP and the first byte of the bound address
	if _, err := io.ReadFull(rw, head[:]); err != nil {
		return err
	}
	if head[0] != 5 {
		return fmt.Errorf("%w: reply version %d", errSOCKSProtocol, head[0])
	}
	if head[1] != 0 {
		return &SOCKSError{Code: head[1]}
	}
	var rest int // what remains of the bound address, then the port
	switch head[3] {
	case 1:
		rest = 4 - 1 + 2
	case 4:
		rest = 16 - 1 + 2
	case 3:
		rest = int(head[4]) + 2
	default:
		return fmt.Errorf("%w: bound address type %d", errSOCKSProtocol, head[3])
	}
	_, err = io.ReadFull(rw, make([]byte, rest))
	return err
}

// connectRequest encodes a SOCKS5 CONNECT to target.
func connectRequest(target string) ([]byte, error) {
	host, portStr, err := net.SplitHostPort(target)
	if err != nil {
		return nil, err
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return nil, fmt.Errorf("port %q is not in 1..65535", portStr)
	}
	req := []byte{5, 1, 0}
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.Is4() {
			req = append(req, 1)
		} else {
			req = append(req, 4)
		}
		req = append(req, ip.AsSlice()...)
	} else {
		if !isHostName(host) {
			return nil, fmt.Errorf("host %q is neither an IP address nor a host name", shorten(host))
		}
		req = append(append(req, 3, byte(len(host))), host...)
	}
	return binary.BigEndian.AppendUint16(req, uint16(port)), nil
}

// isHostName accepts DNS names: letters, digits, '-', '_' and dots, at most 253
// bytes. A PT program formats the target it reads as host:port, so anything else
// (a ':') would reach it garbled.
func isHostName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, c := range []byte(h) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
