package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/umbrella-edge/edge/client"
)

// SOCKS5 is a Handler speaking SOCKS5 (RFC 1928): CONNECT only, no authentication, or
// RFC 1929 username/password whose values are ignored. Hosts that Resolve does not map
// are refused with 0x02 "connection not allowed by ruleset".
type SOCKS5 struct {
	Dial    DialFunc
	Resolve Resolver
}

// Open implements Handler.
func (h *SOCKS5) Open(ctx context.Context, app net.Conn) (net.Conn, Target, error) {
	if err := h.negotiate(app); err != nil {
		return nil, Target{}, err
	}
	req, err := readSOCKS5Request(app)
	if err != nil {
		switch {
		case errors.Is(err, errAddressType):
			app.Write(socksReply(replyAddressNotSupported))
		case errors.Is(err, ErrMalformed):
			app.Write(socksReply(replyGeneralFailure))
		}
		return nil, Target{}, err
	}
	t := Target{Host: req.Host}
	if req.Command != cmdConnect {
		app.Write(socksReply(replyCommandNotSupported))
		return nil, t, fmt.Errorf("%w: socks5 command %d", ErrUnsupported, req.Command)
	}
	svc, ok := h.Resolve(req.Host)
	if !ok {
		app.Write(socksReply(replyNotAllowed))
		return nil, t, fmt.Errorf("socks5: %w", ErrNotAllowed)
	}
	t.Service = svc
	up, err := h.Dial(ctx, svc)
	if err != nil {
		app.Write(socksReply(socksDialReply(err)))
		return nil, t, &DialError{Service: svc, Err: err}
	}
	if _, err := app.Write(socksReply(replySucceeded)); err != nil {
		up.Close()
		return nil, t, fmt.Errorf("socks5: write reply: %w", err)
	}
	return up, t, nil
}

// negotiate answers the greeting, preferring no authentication to username/password.
func (h *SOCKS5) negotiate(app net.Conn) error {
	methods, err := readSOCKS5Greeting(app)
	if err != nil {
		return err
	}
	switch {
	case bytes.IndexByte(methods, methodNoAuth) >= 0:
		_, err = app.Write([]byte{socksVersion, methodNoAuth})
	case bytes.IndexByte(methods, methodUserPass) >= 0:
		if _, err = app.Write([]byte{socksVersion, methodUserPass}); err != nil {
			break
		}
		if err = readUserPass(app); err != nil {
			app.Write([]byte{userPassVersion, 0x01}) // any non-zero status is failure
			return err
		}
		_, err = app.Write([]byte{userPassVersion, 0x00})
	default:
		app.Write([]byte{socksVersion, methodNoneWanted})
		return fmt.Errorf("%w: socks5 offers no method we accept (%x)", ErrUnsupported, methods)
	}
	if err != nil {
		return fmt.Errorf("socks5: answer greeting: %w", err)
	}
	return nil
}

// socksDialReply picks the reply code that tells the app most truly why the stream
// did not open.
func socksDialReply(err error) byte {
	var op *net.OpError
	switch {
	case errors.Is(err, ErrUnreachable),
		errors.Is(err, client.ErrNoAnswer),
		errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &op):
		// Every network error on the way is the gateway's: the app's host was never dialled.
		return replyHostUnreachable
	case errors.Is(err, client.ErrUnknownService):
		return replyNotAllowed
	case errors.Is(err, client.ErrServiceUnavailable):
		return replyConnectionRefused
	default:
		return replyGeneralFailure
	}
}
