// Command hellocapture records the ClientHello a real browser sends, for the browser
// hellos of package tlskit. It listens on loopback only, keeps the first
// complete ClientHello it receives, writes it as one TLS record, and exits.
package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "loopback address to listen on")
	out := flag.String("out", "", "file to write the ClientHello record to")
	portFile := flag.String("portfile", "", "file to write the chosen port to, once listening")
	wait := flag.Duration("timeout", 60*time.Second, "give up after this long")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "hellocapture: -out is required")
		os.Exit(2)
	}
	if err := run(*addr, *out, *portFile, *wait); err != nil {
		fmt.Fprintln(os.Stderr, "hellocapture:", err)
		os.Exit(1)
	}
}

func run(addr, out, portFile string, wait time.Duration) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("parse -addr %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("-addr %q: only loopback addresses are allowed", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	defer ln.Close()
	if portFile != "" {
		port := ln.Addr().(*net.TCPAddr).Port
		if err := os.WriteFile(portFile, []byte(fmt.Sprintf("%d\n", port)), 0o644); err != nil {
			return fmt.Errorf("write port file: %w", err)
		}
	}
	deadline := time.Now().Add(wait)
	ln.(*net.TCPListener).SetDeadline(deadline)
	for {
		conn, err := ln.Accept()
		if err != nil {
			return fmt.Errorf("no ClientHello within %v: %w", wait, err)
		}
		conn.SetDeadline(deadline)
		hello, err := readClientHello(conn)
		conn.Close()
		if err != nil {
			// Browsers open speculative connections that may carry nothing; wait for the next.
			slog.Warn("connection without a ClientHello", "err", err)
			continue
		}
		if err := os.WriteFile(out, hello, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", out, err)
		}
		slog.Info("captured ClientHello", "bytes", len(hello), "file", out)
		return nil
	}
}

// readClientHello reads TLS handshake records until one whole ClientHello message has
// arrived and returns it re-framed as a single record, the form utls fingerprints.
func readClientHello(r io.Reader) ([]byte, error) {
	var msg []byte
	var recVersion uint16
	for {
		var hdr [5]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return nil, fmt.Errorf("read record header: %w", err)
		}
		if hdr[0] != 22 {
			return nil, fmt.Errorf("record type %d is not handshake", hdr[0])
		}
		if recVersion == 0 {
			recVersion = binary.BigEndian.Uint16(hdr[1:3])
		}
		n := int(binary.BigEndian.Uint16(hdr[3:5]))
		if n == 0 || n > 1<<14 {
			return nil, fmt.Errorf("record length %d out of range", n)
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(r, body); err != nil {
			return nil, fmt.Errorf("read record body: %w", err)
		}
		msg = append(msg, body...)
		if len(msg) < 4 {
			continue
		}
		if msg[0] != 1 {
			return nil, errors.New("first handshake message is not a ClientHello")
		}
		want := 4 + (int(msg[1])<<16 | int(msg[2])<<8 | int(msg[3]))
		if want > 1<<14 {
			return nil, fmt.Errorf("ClientHello of %d bytes does not fit one record", want)
		}
		if len(msg) >= want {
			rec := make([]byte, 5, 5+want)
			rec[0] = 22
			binary.BigEndian.PutUint16(rec[1:3], recVersion)
			binary.BigEndian.PutUint16(rec[3:5], uint16(want))
			return append(rec, msg[:want]...), nil
		}
	}
}
