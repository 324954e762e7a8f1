package failure

import (
	"net"
	"sync"
	"sync/atomic"
)

// HeadSize is how many of a carrier's first bytes a Meter keeps: enough for the head
// of the HTTP response a website gives a hello it does not understand.
const HeadSize = 1024

// A Meter is a carrier that keeps what Classify needs of it: how many bytes it has
// delivered, and the first HeadSize of them. Wrap a carrier in one before its first
// Read; it is safe for concurrent use.
type Meter struct {
	net.Conn
	received atomic.Int64

	mu   sync.Mutex
	head []byte
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
	return n, err
}

// Received returns how many bytes the carrier has delivered.
func (m *Meter) Received() int64 { return m.received.Load() }

// Head returns a copy of the first bytes the carrier delivered.
func (m *Meter) Head() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]byte(nil), m.head...)
}
