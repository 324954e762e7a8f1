package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	goptlib "gitlab.torproject.org/tpo/anti-censorship/pluggable-transports/goptlib"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/pt"
)

// torParent stands in for Tor: it starts 'umbrella tor-pt' with the managed-proxy
// environment Tor sets and reads what it answers on stdout, up to CMETHODS DONE.
type torParent struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *syncBuffer
	lines  []string
	socks  map[string]string // method → SOCKS5 address from its CMETHOD line
	exited chan error
}

func startTorPT(t *testing.T, bin, methods string) *torParent {
	t.Helper()
	p := &torParent{cmd: exec.Command(bin, "tor-pt", "--log-level", "debug"), stderr: new(syncBuffer),
		socks: map[string]string{}, exited: make(chan error, 1)}
	p.cmd.Env = append(os.Environ(),
		"TOR_PT_MANAGED_TRANSPORT_VER=1",
		"TOR_PT_CLIENT_TRANSPORTS="+methods,
		"TOR_PT_STATE_LOCATION="+filepath.Join(t.TempDir(), "pt_state"),
		"TOR_PT_EXIT_ON_STDIN_CLOSE=1",
	)
	p.cmd.Stderr = p.stderr
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("tor-pt stdout:\n%s\ntor-pt stderr:\n%s", strings.Join(p.lines, "\n"), p.stderr)
		}
	})
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		p.exited <- p.cmd.Wait()
	}()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("tor-pt exited before CMETHODS DONE")
			}
			p.lines = append(p.lines, line)
			if f := strings.Fields(line); len(f) == 4 && f[0] == "CMETHOD" {
				p.socks[f[1]] = f[3]
			}
			if line == "CMETHODS DONE" {
				go func() { // later lines (there should be none) must not block the child
					for range lines {
					}
				}()
				return p
			}
		case <-timeout:
			t.Fatalf("no CMETHODS DONE from tor-pt within 30 s; lines so far: %q", p.lines)
		}
	}
}

// wait returns how tor-pt exited, or fails if it still runs after 30 s.
func (p *torParent) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-p.exited:
		p.exited <- err // for the cleanup
		if strings.Contains(p.stderr.String(), "still closing") {
			// Exiting anyway is right for Tor, but something did not close: show what.
			t.Errorf("tor-pt exited with connections still closing:\n%s", p.stderr.String())
		}
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("tor-pt still runs 30 s after it was told to exit")
		return nil
	}
}

// TestTorPT plays Tor against 'umbrella tor-pt' in front of a real gateway and echo
// backend: the managed-proxy lines, then SOCKS5 requests carrying bridge lines as Tor
// sends them.
func TestTorPT(t *testing.T) {
	bin := buildBinary(t)
	g := startGateway(t, bin, startEcho(t))
	out, err := exec.Command(bin, "bridges", "--config", g.config).Output()
	if err != nil {
		t.Fatalf("umbrella bridges: %v", err)
	}
	bridges := map[string][]string{} // transport → fields of its line
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		bridges[f[0]] = f
	}
	p := startTorPT(t, bin, "tcp,utls,nosuch")

	t.Run("managed-proxy lines", func(t *testing.T) {
		if len(p.lines) == 0 || p.lines[0] != "VERSION 1" {
			t.Errorf("first line %q, want VERSION 1", p.lines)
		}
		for _, method := range []string{"tcp", "utls"} {
			if addr := p.socks[method]; !strings.HasPrefix(addr, "127.0.0.1:") || !strings.Contains(strings.Join(p.lines, "\n"), "CMETHOD "+method+" socks5 ") {
				t.Errorf("no CMETHOD %s socks5 on loopback in %q", method, p.lines)
			}
		}
		if !strings.Contains(strings.Join(p.lines, "\n"), "CMETHOD-ERROR nosuch ") {
			t.Errorf("no CMETHOD-ERROR for an unknown transport in %q", p.lines)
		}
	})

	for _, method := range []string{"tcp", "utls"} {
		t.Run(method+" bridge to service echo", func(t *testing.T) {
			f := bridges[method]
			conn, reply := socks5WithArgs(t, p.socks[method], f[1], append(f[2:], "service=echo"))
			if reply != 0 {
				t.Fatalf("SOCKS5 reply %#x, want success", reply)
			}
			echoTransfer(t, conn, 1<<20)
		})
	}

	t.Run("service tor by default", func(t *testing.T) {
		f := bridges["tcp"]
		// The test gateway has no "tor" service, so the stream is refused as such.
		conn, reply := socks5WithArgs(t, p.socks["tcp"], f[1], f[2:])
		conn.Close()
		if reply != goptlib.SocksRepConnectionNotAllowed {
			t.Errorf("SOCKS5 reply %#x, want %#x: the gateway refused service tor", reply, goptlib.SocksRepConnectionNotAllowed)
		}
	})

	t.Run("bridge line without its secret", func(t *testing.T) {
		f := bridges["tcp"]
		var args []string
		for _, a := range f[2:] {
			if !strings.HasPrefix(a, "secret=") {
				args = append(args, a)
			}
		}
		conn, reply := socks5WithArgs(t, p.socks["tcp"], f[1], args)
		conn.Close()
		if reply == 0 {
			t.Error("SOCKS5 request without secret= succeeded")
		}
	})

	t.Run("driven by the pt transport", func(t *testing.T) {
		// Our own PT parent runs tor-pt as the program for utls, as Tor would.
		wrapper := filepath.Join(t.TempDir(), "umbrella-tor-pt")
		if err := os.WriteFile(wrapper, []byte("#!/bin/sh\nexec "+bin+" tor-pt\n"), 0o700); err != nil {
			t.Fatal(err)
		}
		tr := pt.New(pt.Config{Binaries: map[string]string{"utls": wrapper}})
		defer tr.Close()
		f := bridges["utls"]
		args := transports.Args{"method": "utls", "service": "echo"}
		for _, a := range f[2:] {
			k, v, _ := strings.Cut(a, "=")
			args[k] = v
		}
		d, err := tr.NewDialer(f[1], args)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn, err := d.Dial(ctx)
		if err != nil {
			t.Fatalf("Dial through tor-pt: %v", err)
		}
		echoTransfer(t, conn, 1<<20)
	})

	t.Run("no secret in the logs", func(t *testing.T) {
		secret := strings.TrimPrefix(fieldOf(strings.Join(bridges["tcp"], " "), "secret="), "secret=")
		if secret == "" || strings.Contains(p.stderr.String(), secret) {
			t.Error("tor-pt's debug log contains the bridge secret (or the bridge line has none)")
		}
	})

	t.Run("exits when Tor closes stdin", func(t *testing.T) {
		p.stdin.Close()
		if err := p.wait(t); err != nil {
			t.Errorf("tor-pt exited with %v after stdin closed", err)
		}
	})
}

func TestTorPTExitsOnSignal(t *testing.T) {
	bin := buildBinary(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			p := startTorPT(t, bin, "tcp")
			p.cmd.Process.Signal(sig)
			if err := p.wait(t); err != nil {
				t.Errorf("tor-pt exited with %v after %v", err, sig)
			}
		})
	}
}

func TestTorPTReportsABadEnvironment(t *testing.T) {
	bin := buildBinary(t)
	cmd := exec.Command(bin, "tor-pt")
	cmd.Env = append(os.Environ(), "TOR_PT_MANAGED_TRANSPORT_VER=2", "TOR_PT_CLIENT_TRANSPORTS=tcp")
	out, err := cmd.Output()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("tor-pt with only version 2 offered: %v, want a failed exit", err)
	}
	if !strings.Contains(string(out), "VERSION-ERROR no-version") {
		t.Errorf("stdout %q lacks VERSION-ERROR no-version", out)
	}
}

// socks5WithArgs sends a SOCKS5 CONNECT to target as Tor does for a bridge with
// arguments: RFC 1929 username "k=v;k=v", password one NUL byte. The arguments here
// need no escaping (base64url and host names). It returns the conn and the reply code.
func socks5WithArgs(t *testing.T, proxy, target string, args []string) (net.Conn, byte) {
	t.Helper()
	user := strings.Join(args, ";")
	if len(user) > 255 {
		t.Fatalf("arguments of %d bytes: the test sends them in the username only", len(user))
	}
	conn, err := net.Dial("tcp", proxy)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(time.Minute))
	host, portStr, _ := net.SplitHostPort(target)
	ip := net.ParseIP(host).To4()
	if ip == nil {
		t.Fatalf("target %q: the test speaks IPv4 targets only", target)
	}
	var port uint16
	for _, c := range portStr {
		port = port*10 + uint16(c-'0')
	}
	msg := []byte{5, 1, 2} // one method: username/password
	if _, err := conn.Write(msg); err != nil {
		t.Fatal(err)
	}
	expect(t, conn, []byte{5, 2}, "method choice")
	msg = append([]byte{1, byte(len(user))}, user...)
	msg = append(msg, 1, 0)
	if _, err := conn.Write(msg); err != nil {
		t.Fatal(err)
	}
	expect(t, conn, []byte{1, 0}, "authentication status")
	msg = append([]byte{5, 1, 0, 1}, ip...)
	msg = binary.BigEndian.AppendUint16(msg, port)
	if _, err := conn.Write(msg); err != nil {
		t.Fatal(err)
	}
	reply := make([]byte, 10)
	if _, err := io.ReadFull(conn, reply); err != nil {
		t.Fatalf("SOCKS5 reply: %v", err)
	}
	conn.SetDeadline(time.Time{})
	return conn, reply[1]
}

func expect(t *testing.T, r io.Reader, want []byte, what string) {
	t.Helper()
	got := make([]byte, len(want))
	if _, err := io.ReadFull(r, got); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if string(got) != string(want) {
		t.Fatalf("%s: got %x, want %x", what, got, want)
	}
}

// FuzzBridgeFromSOCKS feeds what Tor's SOCKS request may carry: the rebuilt bridge line
// must be the transport and target asked for, with service= taken out, or an error.
func FuzzBridgeFromSOCKS(f *testing.F) {
	key := "key=" + strings.Repeat("A", 43)
	secret := "secret=" + strings.Repeat("B", 43)
	f.Add("utls", "198.51.100.7:443", key, secret, "servername=www.example.com", "service=tor")
	f.Add("tcp", "[2001:db8::1]:80", key, secret, "service=echo", "x=a b")
	f.Add("obfs4", "bridge.example.net:443", "key=", secret, "cert=AA", "iat-mode=0")
	f.Fuzz(func(t *testing.T, method, target, a1, a2, a3, a4 string) {
		args := goptlib.Args{}
		for _, a := range []string{a1, a2, a3, a4} {
			k, v, _ := strings.Cut(a, "=")
			args.Add(k, v)
		}
		b, service, err := bridgeFromSOCKS(method, target, args)
		if err != nil {
			return
		}
		if b.Transport != method || b.Addr != target {
			t.Fatalf("asked for %s %s, got bridge %s", method, target, b.Redacted())
		}
		if _, ok := b.Args["service"]; ok {
			t.Fatalf("service= stayed in the transport's arguments: %v", b.Args)
		}
		if vs, ok := args["service"]; ok && service != vs[0] || !ok && service != torService {
			t.Fatalf("service %q from arguments %q", service, args)
		}
	})
}
