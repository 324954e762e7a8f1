package tlskit

import (
	"net"
	"testing"
)

// writeLogConn records the size of every Write.
type writeLogConn struct {
	net.Conn
	writes []int
}

func (c *writeLogConn) Write(p []byte) (int, error) {
	c.writes = append(c.writes, len(p))
	return len(p), nil
}

func TestFragConnCutsOnlyTheFirstWrite(t *testing.T) {
	tests := []struct {
		name     string
		size     int
		first    int
		min, max int // bounds of every piece of the first write but its last
	}{
		{"fixed size", 100, 1000, 100, 100},
		{"size larger than the hello", 5000, 1000, 1000, 1000},
		{"random sizes", 1, 2000, fragRandomMin, fragRandomMax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &writeLogConn{}
			c := &fragConn{Conn: rec, size: tt.size}
			if n, err := c.Write(make([]byte, tt.first)); err != nil || n != tt.first {
				t.Fatalf("Write = %d, %v; want %d, nil", n, err, tt.first)
			}
			pieces := rec.writes
			sum := 0
			for i, n := range pieces {
				sum += n
				if i < len(pieces)-1 && (n < tt.min || n > tt.max) {
					t.Errorf("piece %d is %d bytes, want %d..%d", i, n, tt.min, tt.max)
				}
			}
			if sum != tt.first {
				t.Fatalf("pieces add up to %d bytes, want %d", sum, tt.first)
			}
			if want := (tt.first + tt.min - 1) / tt.min; tt.size != 1 && len(pieces) != want {
				t.Errorf("%d pieces, want %d", len(pieces), want)
			}
			c.Write(make([]byte, 3000))
			if last := rec.writes[len(rec.writes)-1]; len(rec.writes) != len(pieces)+1 || last != 3000 {
				t.Errorf("the second write was cut: writes %v", rec.writes)
			}
		})
	}
}
