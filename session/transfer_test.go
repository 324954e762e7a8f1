package session

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
)

// The "sink" service reads a BE64 length and that many bytes, and answers their
// SHA-256. The "source" service reads a BE64 length and a BE64 seed, and writes that
// many bytes of the seed's ChaCha8 stream. Both check a stream end to end with a hash.

func serveSink(conn net.Conn) {
	var hdr [8]byte
	if _, err := io.ReadFull(conn, hdr[:]); err != nil {
		return
	}
	h := sha256.New()
	if _, err := io.CopyN(h, conn, int64(binary.BigEndian.Uint64(hdr[:]))); err != nil {
		return
	}
	conn.Write(h.Sum(nil))
}

func serveSource(conn net.Conn) {
	var hdr [16]byte
	if _, err := io.ReadFull(conn, hdr[:]); err != nil {
		return
	}
	n, seed := binary.BigEndian.Uint64(hdr[:]), binary.BigEndian.Uint64(hdr[8:])
	io.CopyN(conn, seeded(seed), int64(n))
}

func seeded(seed uint64) io.Reader {
	var s [32]byte
	binary.BigEndian.PutUint64(s[:], seed)
	return rand.NewChaCha8(s)
}

// upload sends n bytes of the seed's stream to "sink" and checks the hash it answers.
func upload(s *Session, n int, seed uint64) error {
	conn, err := s.OpenStream(context.Background(), "sink")
	if err != nil {
		return fmt.Errorf("open sink stream: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write(binary.BigEndian.AppendUint64(nil, uint64(n))); err != nil {
		return fmt.Errorf("write length: %w", err)
	}
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(conn, h), seeded(seed), int64(n)); err != nil {
		return fmt.Errorf("upload %d bytes: %w", n, err)
	}
	got := make([]byte, sha256.Size)
	if _, err := io.ReadFull(conn, got); err != nil {
		return fmt.Errorf("read the gateway's hash of %d bytes: %w", n, err)
	}
	if !bytes.Equal(got, h.Sum(nil)) {
		return fmt.Errorf("the gateway received %d bytes that hash differently from those sent", n)
	}
	return nil
}

// download asks "source" for n bytes of the seed's stream and checks them by hash.
func download(s *Session, n int, seed uint64) error {
	conn, err := s.OpenStream(context.Background(), "source")
	if err != nil {
		return fmt.Errorf("open source stream: %w", err)
	}
	defer conn.Close()
	req := binary.BigEndian.AppendUint64(nil, uint64(n))
	if _, err := conn.Write(binary.BigEndian.AppendUint64(req, seed)); err != nil {
		return fmt.Errorf("write request: %w", err)
	}
	got, want := sha256.New(), sha256.New()
	if _, err := io.CopyN(got, conn, int64(n)); err != nil {
		return fmt.Errorf("download %d bytes: %w", n, err)
	}
	io.CopyN(want, seeded(seed), int64(n))
	if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		return fmt.Errorf("received %d bytes that hash differently from those the gateway sent", n)
	}
	return nil
}
