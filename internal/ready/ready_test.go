package ready

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	dnsmsg "github.com/miekg/dns"
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

func TestDNS(t *testing.T) {
	// A server that answers every query, as a resolver answers version.server.
	answering, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer answering.Close()
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := answering.ReadFrom(buf)
			if err != nil {
				return
			}
			q := new(dnsmsg.Msg)
			if q.Unpack(buf[:n]) != nil {
				continue
			}
			r := new(dnsmsg.Msg)
			r.SetReply(q)
			b, _ := r.Pack()
			answering.WriteTo(b, from)
		}
	}()
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	exited := make(chan struct{})
	close(exited)

	tests := []struct {
		name    string
		addr    string
		exited  <-chan struct{}
		timeout time.Duration
		want    error
	}{
		{"an answering server is ready", answering.LocalAddr().String(), nil, time.Minute, nil},
		{"a silent one times out", silent.LocalAddr().String(), nil, 100 * time.Millisecond, context.DeadlineExceeded},
		{"an exited program is not waited for", silent.LocalAddr().String(), exited, time.Minute, ErrExited},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			err := DNS(ctx, tt.addr, tt.exited)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("DNS(%s): %v, want %v", tt.addr, err, tt.want)
			}
		})
	}
}
