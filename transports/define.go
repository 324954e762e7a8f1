package transports

import (
	"context"
	"fmt"
)

// Define returns the Transport called name whose dialers come from newDialer, whose
// listeners come from listen and whose listener configs check checks (it is a
// ListenChecker), with their errors prefixed by the transport's name (and the listen
// address), so a transport package writes only its constructors.
func Define[D Dialer, L Listener](name string, newDialer func(addr string, args Args) (D, error), listen func(ctx context.Context, cfg ListenConfig) (L, error), check func(cfg ListenConfig) error) Transport {
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
		check: func(cfg ListenConfig) error {
			if err := check(cfg); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			return nil
		},
	}
}

type defined struct {
	name   string
	dial   func(addr string, args Args) (Dialer, error)
	listen func(ctx context.Context, cfg ListenConfig) (Listener, error)
	check  func(cfg ListenConfig) error
}

func (t defined) Name() string { return t.name }

func (t defined) NewDialer(addr string, args Args) (Dialer, error) { return t.dial(addr, args) }

func (t defined) Listen(ctx context.Context, cfg ListenConfig) (Listener, error) {
	return t.listen(ctx, cfg)
}

func (t defined) CheckListen(cfg ListenConfig) error { return t.check(cfg) }
