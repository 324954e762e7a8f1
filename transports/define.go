package transports

import (
	"context"
	"fmt"
)

// Define returns the Transport called name whose dialers come from newDialer and whose
// listeners come from listen, with their errors prefixed by the transport's name (and
// the listen address), so a transport package writes only its two constructors.
func Define[D Dialer, L Listener](name string, newDialer func(addr string, args Args) (D, error), listen func(ctx context.Context, cfg ListenConfig) (L, error)) Transport {
	return defined{
		name: name,
		dial: func(addr string, args Args) (Dialer, error) {
			d, err := newDialer(addr, args)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			return d, nil
		},
		listen: func(ctx context.Context, cfg ListenConfig) (Listener, error) {
			l, err := listen(ctx, cfg)
			if err != nil {
				return nil, fmt.Errorf("%s: listen %s: %w", name, cfg.Addr, err)
			}
			return l, nil
		},
	}
}

type defined struct {
	name   string
	dial   func(addr string, args Args) (Dialer, error)
	listen func(ctx context.Context, cfg ListenConfig) (Listener, error)
}

func (t defined) Name() string { return t.name }

func (t defined) NewDialer(addr string, args Args) (Dialer, error) { return t.dial(addr, args) }

func (t defined) Listen(ctx context.Context, cfg ListenConfig) (Listener, error) {
	return t.listen(ctx, cfg)
}
