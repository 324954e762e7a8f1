package session

import "sync"

// chunkSize is the unit in which the retransmit buffer takes and returns memory: one
// record's worth, so an idle session, with everything acknowledged, holds none.
const chunkSize = 16 << 10

var chunkPool = sync.Pool{New: func() any { return new([chunkSize]byte) }}

// sendBuffer holds the bytes of the session stream from the first one the peer has
// not acknowledged to the last one written. Chunk i holds stream offsets
// [base + i*chunkSize, base + (i+1)*chunkSize).
type sendBuffer struct {
	chunks []*[chunkSize]byte
	base   uint64 // stream offset of chunks[0][0]
	acked  uint64 // the peer has every byte before this one
	end    uint64 // offset after the last byte written
	// A writer reads chunks without the lock. The peer may acknowledge those bytes
	// meanwhile (it had them from a carrier before), so the chunks from heldFrom on
	// stay until the writer is done with them.
	held     bool
	heldFrom uint64
	acct     *account // the chunks count against the gateway's budget; nil on a client
}

func (b *sendBuffer) unacked() int { return int(b.end - b.acked) }

// append copies p to the end of the stream.
func (b *sendBuffer) append(p []byte) {
	for len(p) > 0 {
		at := int(b.end - b.base)
		if at == len(b.chunks)*chunkSize {
			b.chunks = append(b.chunks, chunkPool.Get().(*[chunkSize]byte))
			b.acct.take(chunkSize)
		}
		n := copy(b.chunks[at/chunkSize][at%chunkSize:], p)
		p = p[n:]
		b.end += uint64(n)
	}
}

// ack records that the peer has every byte before offset to, which must not be past
// end, and releases the chunks no one needs any more.
func (b *sendBuffer) ack(to uint64) {
	if to <= b.acked {
		return
	}
	b.acked = to
	b.trim()
}

// hold keeps the chunks from offset from on until unhold.
func (b *sendBuffer) hold(from uint64) { b.held, b.heldFrom = true, from }

func (b *sendBuffer) unhold() {
	b.held = false
	b.trim()
}

func (b *sendBuffer) trim() {
	upTo := b.acked
	if b.held {
		upTo = min(upTo, b.heldFrom)
	}
	if upTo == b.end { // all acknowledged: an idle session holds no chunk
		b.release()
		return
	}
	for len(b.chunks) > 0 && b.base+chunkSize <= upTo {
		chunkPool.Put(b.chunks[0])
		b.acct.give(chunkSize)
		b.chunks[0] = nil
		b.chunks = b.chunks[1:]
		b.base += chunkSize // upTo < end, so the last chunk stays
	}
}

// slices appends to dst the buffered bytes from offset from (at least acked), up to
// max of them, as slices of the chunks. They stay valid while held, or until ack
// passes them.
func (b *sendBuffer) slices(dst [][]byte, from uint64, max int) [][]byte {
	for from < b.end && max > 0 {
		at := int(from - b.base)
		c := b.chunks[at/chunkSize][at%chunkSize:]
		n := min(len(c), int(b.end-from), max)
		dst = append(dst, c[:n])
		from += uint64(n)
		max -= n
	}
	return dst
}

// release returns every chunk; the buffer is then empty, with everything written
// acknowledged.
func (b *sendBuffer) release() {
	for _, c := range b.chunks {
		chunkPool.Put(c)
	}
	b.acct.give(len(b.chunks) * chunkSize)
	b.chunks = nil
	b.base, b.acked = b.end, b.end
}
