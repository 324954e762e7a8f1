package session

import "sync"

// Record buffers come in two sizes, both pooled and held only while data moves: an
// idle session holds none (a reader waits for a record header in a 2-byte array).
const (
	// bigBufSize holds a writer's whole batch (maxBatch of data, in full records) and
	// the control and padding records that may go with it, so one carrier write
	// carries all of it: on loopback the session's cost beside its AEAD is mostly
	// system calls, and four records a write instead of one took a quarter of them
	// away. Reads of full records fetch ahead as far.
	bigBufSize = (maxBatch/maxSendData+1)*maxRecordWire + 2*(recordHeaderSize+frameHeaderSize+maxEarlyPadding+tagSize)
	// smallBufSize holds what a chatty or idle session sends or reads at a time: acks,
	// pings, messages of a few KiB. The runtime gives freed pages back to the system
	// slowly, so a gateway's RSS at rest follows the buffers its sessions held at
	// once, not only those they keep: with big buffers for every record, 10,000
	// sessions each opening one stream and echoing a byte left 45.6 KiB of RSS per
	// idle session, 30.8 KiB with buffers of two records, and 30.2 KiB with these
	// (umbrella-bench's memory step; Go heap and stacks 20.5 KiB in all three).
	smallBufSize = 4 << 10
)

var (
	bigBufs   = sync.Pool{New: func() any { b := make([]byte, bigBufSize); return &b }}
	smallBufs = sync.Pool{New: func() any { b := make([]byte, smallBufSize); return &b }}
)

// getBuf takes a buffer of at least n bytes (n ≤ bigBufSize): a small one when n fits.
func getBuf(n int) *[]byte {
	if n <= smallBufSize {
		return smallBufs.Get().(*[]byte)
	}
	return bigBufs.Get().(*[]byte)
}

// putBuf gives b back to the pool it came from.
func putBuf(b *[]byte) {
	if len(*b) == smallBufSize {
		smallBufs.Put(b)
		return
	}
	bigBufs.Put(b)
}

// recordRoom bounds what appendFrame adds for a frame of n bytes: the record and,
// among a carrier's first records (padded), its padding and a padding record before.
func recordRoom(n int, padded bool) int {
	room := recordHeaderSize + frameHeaderSize + n + tagSize
	if padded {
		room += maxEarlyPadding + recordHeaderSize + frameHeaderSize + maxEarlyPadding + tagSize
	}
	return room
}

// sendRoom is the buffer a send of ctl and total data bytes asks for: all of it when
// it fits a small buffer, else a big one's worth.
func sendRoom(ctl []control, total int, padded bool) int {
	n := 0
	for _, f := range ctl {
		n += recordRoom(controlSize[f.typ], padded)
	}
	if total > 0 {
		// Data this small goes in one record: sendSize never cuts below half a full one.
		n += recordRoom(total, padded)
	}
	if n <= smallBufSize {
		return n
	}
	return bigBufSize
}
