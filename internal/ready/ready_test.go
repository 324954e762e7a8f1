package ready

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

func TestTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	closedAddr := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}()
	exited := make(chan struct{})
	close(exited)

	tests := []struct {
		name    string
		addr    string
		exited  <-chan struct{}
		timeout time.Duration
		want    error
	}{
		{"a listening port is ready", ln.Addr().String(), nil, time.Minute, nil},
		{"a closed port times out", closedAddr, nil, 100 * time.Millisecond, context.DeadlineExceeded},
		{"an exited program is not waited for", closedAddr, exited, time.Minute, ErrExited},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			err := TCP(ctx, tt.addr, tt.exited)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("TCP(%s): %v, want %v", tt.addr, err, tt.want)
			}
		})
	}
}
