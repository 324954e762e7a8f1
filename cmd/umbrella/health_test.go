package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/umbrella-edge/edge/internal/cli"
	"github.com/umbrella-edge/edge/internal/ready"
)

func TestHealthExitsOneUnlessTheGatewaySaysOK(t *testing.T) {
	draining := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "draining", http.StatusServiceUnavailable)
	}))
	defer draining.Close()
	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, "ok\n")
	}))
	defer healthy.Close()
	tests := []struct {
		name, admin string
		wantCode    int // 0: success
	}{
		{"healthy", healthy.Listener.Addr().String(), 0},
		{"draining", draining.Listener.Addr().String(), healthExitUnhealthy},
		{"not running", freePort(t), healthExitUnhealthy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(t.Context(), []string{"health", "--admin", tt.admin}, &out, &errOut)
			var ee cli.ExitError
			switch {
			case tt.wantCode == 0 && err != nil:
				t.Fatalf("health: %v; want success", err)
			case tt.wantCode == 0 && strings.TrimSpace(out.String()) != "ok":
				t.Fatalf("health printed %q, want ok", out.String())
			case tt.wantCode != 0 && (!errors.As(err, &ee) || ee.Code != tt.wantCode):
				t.Fatalf("health: %v; want exit %d", err, tt.wantCode)
			}
		})
	}
}

func TestEchoWritesBackWhatAStreamSends(t *testing.T) {
	addr := freePort(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"echo", "--listen", addr}, io.Discard, io.Discard) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("echo ended with %v", err)
		}
	}()
	if err := ready.TCP(ctx, addr, nil); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := []byte("hello, backend")
	c.Write(msg)
	c.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo answered %q (%v), want %q", got, err, msg)
	}
}
