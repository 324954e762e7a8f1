package failure

import (
	"bytes"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// HeadSize is how many of a carrier's first bytes a Meter keeps: enough for the head
// of the HTTP response a website gives a hello it does not understand.
const HeadSize = 1024

// A Meter is a carrier that keeps what Classify needs of it: how many bytes it has
// delivered, the first HeadSize of them, and the first error a read or write met.
// Wrap a carrier in one before its first Read; it is safe for concurrent use.
type Meter struct {
	net.Conn
	received atomic.Int64
	closed   atomic.Bool // Close was called: errors from then on are its doing

	mu   sync.Mutex
	head []byte
	err  error
}

// NewMeter returns conn, metered.
func NewMeter(conn net.Conn) *Meter { return &Meter{Conn: conn} }

func (m *Meter) Read(p []byte) (int, error) {
	n, err := m.Conn.Read(p)
	if n > 0 {
		if before := m.received.Add(int64(n)) - int64(n); before < HeadSize {
			m.mu.Lock()
			if k := HeadSize - len(m.head); k > 0 {
				m.head = append(m.head, p[:min(n, k)]...)
			}
			m.mu.Unlock()
		}
	}
	m.failed(err)
	return n, err
}

func (m *Meter) Write(p []byte) (int, error) {
	n, err := m.Conn.Write(p)
	m.failed(err)
	return n, err
}

// Close closes the carrier; errors that follow are not the carrier's.
func (m *Meter) Close() error {
	m.closed.Store(true)
	return m.Conn.Close()
}

// failed keeps the carrier's first error, unless it is the carrier's own closing.
func (m *Meter) failed(err error) {
	if err == nil || m.closed.Load() || errors.Is(err, net.ErrClosed) {
		return
	}
	m.mu.Lock()
	if m.err == nil {
		m.err = err
	}
	m.mu.Unlock()
}

// Err returns the first error a read or write on the carrier met (a reset, an EOF),
// other than its own closing; nil if none.
func (m *Meter) Err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.err
}

// Received returns how many bytes the carrier has delivered.
func (m *Meter) Received() int64 { return m.received.Load() }

// Head returns a copy of the first bytes the carrier delivered.
func (m *Meter) Head() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]byte(nil), m.head...)
}

// FillHTTP reads on, for at most wait, while what the carrier delivered so far could be
// the start of an HTTP response and the head is not full: a session reads two bytes of
// a website's answer before it gives up on it, and Classify needs its status line and
// Date. It returns at once otherwise. The carrier's deadline is left set; call it on a
// carrier being given up.
func (m *Meter) FillHTTP(wait time.Duration) {
	const prefix = "HTTP/1."
	head := m.Head()
	if len(head) == 0 || len(head) >= HeadSize || !bytes.HasPrefix([]byte(prefix), head[:min(len(head), len(prefix))]) {
		return
	}
	m.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, HeadSize)
	for m.Received() < HeadSize {
		if _, err := m.Read(buf[:HeadSize-m.Received()]); err != nil {
			return
		}
	}
}
