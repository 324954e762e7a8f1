package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/umbrella-edge/edge/internal/backend"
)

// Service names the gateways route to the bench's backends.
const (
	serviceBulk     = "bulk"
	serviceEcho     = "echo"
	serviceEchoBulk = "echo-bulk"
)

// backends are the services every path reaches: an echo service, an echo for bulk
// transfers (a larger buffer: its reads and writes must not be what limits a path),
// and a bulk service that sinks or sources a requested number of bytes.
type backends struct {
	echoAddr, echoBulkAddr, bulkAddr string
	cancel                           context.CancelFunc
	done                             sync.WaitGroup
}

func startBackends(ctx context.Context) (*backends, error) {
	echoLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for echo backend: %w", err)
	}
	bulkLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		echoLn.Close()
		return nil, fmt.Errorf("listen for bulk backend: %w", err)
	}
	echoBulkLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		echoLn.Close()
		bulkLn.Close()
		return nil, fmt.Errorf("listen for bulk echo backend: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	b := &backends{echoAddr: echoLn.Addr().String(), echoBulkAddr: echoBulkLn.Addr().String(),
		bulkAddr: bulkLn.Addr().String(), cancel: cancel}
	b.done.Go(func() { serveConns(ctx, echoLn, backend.EchoConn) })
	b.done.Go(func() { serveConns(ctx, echoBulkLn, echoBulk) })
	b.done.Go(func() {
		serveConns(ctx, bulkLn, func(c net.Conn) {
			for bulkServe(c) == nil {
			}
		})
	})
	return b, nil
}

func (b *backends) services() map[string]string {
	return map[string]string{serviceEcho: b.echoAddr, serviceEchoBulk: b.echoBulkAddr, serviceBulk: b.bulkAddr}
}

// echoBulk writes back what c sends, through a bulkChunk buffer, then half-closes c.
func echoBulk(c net.Conn) {
	io.CopyBuffer(c, struct{ io.Reader }{c}, make([]byte, bulkChunk)) // plain reads and writes, not splice(2)
	if tc, ok := c.(interface{ CloseWrite() error }); ok {
		tc.CloseWrite()
	}
}

func (b *backends) Close() {
	b.cancel()
	b.done.Wait()
}

// The bulk protocol, repeated until the client closes: the client sends a direction byte and a big-endian uint64 size.
// For bulkUp it then sends size bytes, which the backend discards before answering with
// the uint64 count it read, so the client's clock stops only once every byte arrived.
// For bulkDown the backend sends size bytes.
const (
	bulkUp   byte = 'u'
	bulkDown byte = 'd'
)

// errBulkRequest is a malformed bulk request.
var errBulkRequest = errors.New("bulk: bad request")

// bulkChunk is the write size on both sides: large enough that per-call costs vanish.
const bulkChunk = 256 << 10

// serveConns runs handle on every connection ln accepts, until ctx is done, and closes
// each connection when its handler returns or ctx is done.
func serveConns(ctx context.Context, ln net.Listener, handle func(net.Conn)) {
	var conns sync.WaitGroup
	defer conns.Wait()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		unblock := context.AfterFunc(ctx, func() { c.Close() })
		conns.Go(func() {
			defer unblock()
			defer c.Close()
			handle(c)
		})
	}
}

func bulkServe(c net.Conn) error {
	var hdr [9]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return err
	}
	size := int64(binary.BigEndian.Uint64(hdr[1:]))
	switch hdr[0] {
	case bulkUp:
		n, err := io.CopyBuffer(io.Discard, io.LimitReader(c, size), make([]byte, bulkChunk))
		if err != nil {
			return err
		}
		return binary.Write(c, binary.BigEndian, uint64(n))
	case bulkDown:
		_, err := writeN(c, size)
		return err
	default:
		return fmt.Errorf("%w: direction %q", errBulkRequest, hdr[0])
	}
}

// bulkRequest asks the bulk service on c to move size bytes in direction dir and does
// the client's half of the transfer. It returns the bytes moved.
func bulkRequest(c net.Conn, dir byte, size int64) (int64, error) {
	var hdr [9]byte
	hdr[0] = dir
	binary.BigEndian.PutUint64(hdr[1:], uint64(size))
	if _, err := c.Write(hdr[:]); err != nil {
		return 0, fmt.Errorf("send bulk request: %w", err)
	}
	if dir == bulkDown {
		n, err := io.CopyBuffer(io.Discard, io.LimitReader(c, size), make([]byte, bulkChunk))
		if err == nil && n < size {
			err = io.ErrUnexpectedEOF
		}
		return n, err
	}
	if _, err := writeN(c, size); err != nil {
		return 0, fmt.Errorf("upload: %w", err)
	}
	var got uint64
	if err := binary.Read(c, binary.BigEndian, &got); err != nil {
		return 0, fmt.Errorf("read sink's count: %w", err)
	}
	if int64(got) != size {
		return int64(got), fmt.Errorf("sink counted %d bytes, sent %d", got, size)
	}
	return size, nil
}

// writeN writes size bytes of zeros. The content does not matter: the session encrypts
// every record, so zeros cost what random bytes cost.
func writeN(w io.Writer, size int64) (int64, error) {
	buf := make([]byte, bulkChunk)
	var n int64
	for n < size {
		m, err := w.Write(buf[:min(int64(len(buf)), size-n)])
		n += int64(m)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
