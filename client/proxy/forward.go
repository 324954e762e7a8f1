package proxy

import (
	"context"
	"net"
)

// Forward is a Handler for a plain port forward: every connection goes to Service,
// and the app speaks that service's protocol from its first byte.
type Forward struct {
	Service string
	Dial    DialFunc
}

// Open implements Handler.
func (f *Forward) Open(ctx context.Context, _ net.Conn) (net.Conn, Target, error) {
	t := Target{Service: f.Service}
	up, err := f.Dial(ctx, f.Service)
	if err != nil {
		return nil, t, &DialError{Service: f.Service, Err: err}
	}
	return up, t, nil
}
