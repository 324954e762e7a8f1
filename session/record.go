package session

import (
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"sync"

	"golang.org/x/crypto/chacha20"
)

// The record layer: after the handshake every byte on the carrier is a record, a
// masked 2-byte length and an AEAD-sealed frame.
const (
	recordHeaderSize = 2
	// maxRecordPlaintext is TLS's 16 KiB: large enough for bulk transfer at one record
	// per write, small enough that a reader never buffers much.
	maxRecordPlaintext  = 16384
	maxRecordCiphertext = maxRecordPlaintext + tagSize
	maxRecordWire       = recordHeaderSize + maxRecordCiphertext
	frameHeaderSize     = 3 // type, data length
	maxRecordData       = maxRecordPlaintext - frameHeaderSize

	// sendRecordWire is what a full record we send takes on the wire, header and tag
	// included: 16 KiB, a TLS record's largest plaintext (RFC 8446, section 5.1). A
	// TLS carrier (utls, webtunnel) cuts each write into records of that size, so a
	// write of whole 16 KiB records goes out as that many full TLS records; records of
	// maxRecordData (16 402 bytes on the wire) left an 18-byte TLS record, one more
	// seal and one more system call, after every fourth.
	sendRecordWire = 16 << 10
	maxSendData    = sendRecordWire - recordHeaderSize - frameHeaderSize - tagSize

	// The first paddedRecords records of each direction carry random padding, and
	// about half of them are preceded by a padding-only record: the inner handshake
	// and first messages then show no fixed sizes, which is what TLS-in-TLS
	// classifiers look for (Xue et al., USENIX Security 2024).
	paddedRecords   = 8
	maxEarlyPadding = 1024
)

// direction is one direction's keys and record counter.
type direction struct {
	aead cipher.AEAD
	mask *chacha20.Cipher // keystream that hides record lengths, 2 bytes a record
	seq  uint64
	// nonceBuf lives here, not on the stack: passed to the AEAD interface a local
	// array would escape, one allocation per record.
	nonceBuf [12]byte
}

func newDirection(id aeadID, key, maskKey []byte) (direction, error) {
	aead, err := newRecordAEAD(id, key)
	if err != nil {
		return direction{}, err
	}
	mask, err := chacha20.NewUnauthenticatedCipher(maskKey, zeroNonce[:])
	if err != nil {
		return direction{}, err
	}
	return direction{aead: aead, mask: mask}, nil
}

// nonce returns the current record's nonce, valid until the next call.
func (d *direction) nonce() []byte {
	binary.BigEndian.PutUint64(d.nonceBuf[4:], d.seq)
	return d.nonceBuf[:]
}

// recordConn carries a byte stream as records over one carrier: data frames are the
// stream, control frames go to a hook. It knows nothing of what happens when its
// carrier fails; the resumable link above it does.
type recordConn struct {
	conn net.Conn
	aead aeadID // what the hellos agreed on
	// control receives each control frame as it is read, in order with the data; an
	// error from it ends reading. Nil means a control frame is a violation.
	control func(control) error

	rmu   sync.Mutex
	rd    direction
	rbuf  *[]byte // nil while no record is being read
	start int     // rbuf[start:end] is carrier data not yet opened
	end   int
	plain []byte // opened data not yet read; aliases rbuf
	// streaming is set while the carrier's reads return full records: the buffer
	// is then kept when it drains, and the next read takes a header and what follows
	// at once, instead of 2 bytes alone (measured on the echo: half the carrier's
	// reads were those). A read that returns less, as the acks and pings of an
	// idle session do, gives the buffer back.
	streaming bool
	rerr      error

	wmu  sync.Mutex
	wr   direction
	werr error

	closeOnce sync.Once
	closeErr  error
}

// recordConnFor is the record layer on conn under the carrier's keys, the gateway's
// side (server) or the client's.
func recordConnFor(conn net.Conn, keys sessionKeys, server bool) (*recordConn, error) {
	if server {
		return newRecordConn(conn, keys.aead, keys.c2s, keys.c2sMask, keys.s2c, keys.s2cMask)
	}
	return newRecordConn(conn, keys.aead, keys.s2c, keys.s2cMask, keys.c2s, keys.c2sMask)
}

func newRecordConn(conn net.Conn, aead aeadID, readKey, readMask, writeKey, writeMask []byte) (*recordConn, error) {
	rd, err := newDirection(aead, readKey, readMask)
	if err != nil {
		return nil, fmt.Errorf("session: record keys: %w", err)
	}
	wr, err := newDirection(aead, writeKey, writeMask)
	if err != nil {
		return nil, fmt.Errorf("session: record keys: %w", err)
	}
	return &recordConn{conn: conn, aead: aead, rd: rd, wr: wr}, nil
}

func (c *recordConn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	for len(c.plain) == 0 && c.rerr == nil {
		if err := c.readRecord(); err != nil {
			c.rerr = err
			c.releaseRead()
			c.rmu.Unlock()
			return 0, err
		}
	}
	if c.rerr != nil {
		c.rmu.Unlock()
		return 0, c.rerr
	}
	n := copy(p, c.plain)
	c.plain = c.plain[n:]
	if len(c.plain) == 0 && c.start == c.end && !c.streaming {
		c.releaseRead()
	}
	c.rmu.Unlock()
	return n, nil
}

func (c *recordConn) releaseRead() {
	if c.rbuf != nil {
		putBuf(c.rbuf)
		c.rbuf, c.start, c.end, c.plain = nil, 0, 0, nil
	}
}

// readRecord opens the next record; c.plain holds its data (none for padding and
// control frames, which have gone to the hook).
func (c *recordConn) readRecord() error {
	if c.rbuf != nil && c.start == c.end && !c.streaming {
		c.releaseRead()
	}
	var n int
	if c.rbuf == nil {
		var hdr [recordHeaderSize]byte
		if k, err := io.ReadFull(c.conn, hdr[:]); err != nil {
			if k == 0 && errors.Is(err, io.EOF) {
				return io.EOF // the carrier ended between records
			}
			return carrierError(err)
		}
		// The length is checked before a buffer is taken for the record.
		var err error
		if n, err = c.recordLength(hdr[:]); err != nil {
			return err
		}
		c.rbuf = getBuf(recordHeaderSize + n)
		c.start, c.end = 0, copy(*c.rbuf, hdr[:])
	} else {
		if c.start == c.end {
			// A kept buffer that drained: the carrier may end here, between records.
			c.start, c.end = 0, 0
			k, err := c.conn.Read(*c.rbuf)
			c.end, c.streaming = k, k >= sendRecordWire
			if k == 0 && err != nil {
				if errors.Is(err, io.EOF) {
					return io.EOF
				}
				return carrierError(err)
			}
		}
		if err := c.fill(recordHeaderSize); err != nil {
			return err
		}
		var err error
		if n, err = c.recordLength((*c.rbuf)[c.start : c.start+recordHeaderSize]); err != nil {
			return err
		}
	}
	if err := c.fill(recordHeaderSize + n); err != nil {
		return err
	}
	buf := *c.rbuf
	hdr := buf[c.start : c.start+recordHeaderSize] // fill may have moved the data
	ct := buf[c.start+recordHeaderSize : c.start+recordHeaderSize+n]
	plain, err := c.rd.aead.Open(ct[:0], c.rd.nonce(), ct, hdr)
	if err != nil {
		return fmt.Errorf("%w: record %d does not authenticate", ErrRecord, c.rd.seq)
	}
	c.rd.seq++
	c.start += recordHeaderSize + n
	typ, data, err := parseFrame(plain)
	if err != nil {
		return fmt.Errorf("%w: %w: record %d: %w", ErrRecord, errViolation, c.rd.seq-1, err)
	}
	switch typ {
	case frameData:
		c.plain = data
	case framePadding:
	default:
		if c.control == nil {
			return fmt.Errorf("%w: %w: record %d: control frame %d on a data-only conn", ErrRecord, errViolation, c.rd.seq-1, typ)
		}
		ctl, _ := parseControl(typ, data) // parseFrame checked it
		return c.control(ctl)
	}
	return nil
}

// recordLength unmasks a record header; the length must fit a frame header and a tag,
// and no more than the largest record.
func (c *recordConn) recordLength(hdr []byte) (int, error) {
	var length [recordHeaderSize]byte
	c.rd.mask.XORKeyStream(length[:], hdr)
	n := int(binary.BigEndian.Uint16(length[:]))
	if n < frameHeaderSize+tagSize || n > maxRecordCiphertext {
		return 0, fmt.Errorf("%w: record %d has length %d, want %d to %d", ErrRecord, c.rd.seq, n, frameHeaderSize+tagSize, maxRecordCiphertext)
	}
	return n, nil
}

// fill reads from the carrier until rbuf[start:end] holds need bytes, reading ahead
// as far as the buffer allows.
func (c *recordConn) fill(need int) error {
	if c.end-c.start >= need {
		return nil
	}
	if need > len(*c.rbuf) {
		c.growRead()
	}
	buf := *c.rbuf
	if c.start+need > len(buf) {
		c.end = copy(buf, buf[c.start:c.end])
		c.start = 0
	}
	for c.end-c.start < need {
		n, err := c.conn.Read(buf[c.end:])
		c.streaming = n >= sendRecordWire
		c.end += n
		if err != nil && c.end-c.start < need {
			return carrierError(err)
		}
	}
	return nil
}

// growRead moves what rbuf holds unread into a big buffer, for a record larger than
// the small one it came in.
func (c *recordConn) growRead() {
	nb := bigBufs.Get().(*[]byte)
	c.end = copy(*nb, (*c.rbuf)[c.start:c.end])
	c.start = 0
	putBuf(c.rbuf)
	c.rbuf = nb
}

// carrierError says how the carrier failed under a record. It is never a violation:
// a carrier can end anywhere.
func carrierError(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: carrier ended inside a record: %w", ErrRecord, io.ErrUnexpectedEOF)
	}
	return fmt.Errorf("session: read carrier: %w", err)
}

// Write sends p as data frames.
func (c *recordConn) Write(p []byte) (int, error) { return c.send(nil, [][]byte{p}) }

// WriteBuffers sends the concatenation of v as data frames.
func (c *recordConn) WriteBuffers(v [][]byte) (int, error) { return c.send(nil, v) }

// send seals the control frames, one record each, then the concatenation of data as
// data frames, and writes them to the carrier in as few writes as its buffer allows.
// It returns how many data bytes it sent.
func (c *recordConn) send(ctl []control, data [][]byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.werr != nil {
		return 0, c.werr
	}
	src := gather{v: data}
	total := src.remaining()
	padded := c.wr.seq < paddedRecords
	bp := getBuf(sendRoom(ctl, total, padded))
	defer putBuf(bp)
	out := (*bp)[:0]
	var cdata [16]byte
	var err error
	for _, f := range ctl {
		d := f.appendData(cdata[:0])
		if out, err = c.makeRoom(out, recordRoom(len(d), padded)); err != nil {
			return 0, err
		}
		out = c.appendFrame(out, f.typ, &gather{v: [][]byte{d}}, len(d))
	}
	for src.remaining() > 0 {
		n := min(src.remaining(), sendSize(len(out)))
		if cap(out)-len(out) < recordRoom(n, padded) {
			if out, err = c.makeRoom(out, cap(out)); err != nil {
				return 0, err
			}
			n = min(src.remaining(), sendSize(0))
		}
		out = c.appendFrame(out, frameData, &src, n)
	}
	if err := c.flush(out); err != nil {
		return 0, err
	}
	return total, nil
}

// makeRoom flushes out unless it has room for n more bytes, and returns what to
// append to.
func (c *recordConn) makeRoom(out []byte, n int) ([]byte, error) {
	if cap(out)-len(out) >= n {
		return out, nil
	}
	if err := c.flush(out); err != nil {
		return nil, err
	}
	return out[:0], nil
}

func (c *recordConn) flush(out []byte) error {
	if len(out) == 0 {
		return nil
	}
	if _, err := c.conn.Write(out); err != nil {
		c.werr = fmt.Errorf("session: write carrier: %w", err)
		return c.werr
	}
	return nil
}

// sendSize is the data the next record carries when the write holds at bytes: a
// full record, or one short enough that the write reaches a multiple of 16 KiB after
// the control records before it.
func sendSize(at int) int {
	if k := at % sendRecordWire; k < maxSendData/2 {
		return maxSendData - k
	}
	return maxSendData
}

// controlWire is what ctl takes on the wire as records, after the padded opening.
func controlWire(ctl []control) int {
	n := 0
	for _, f := range ctl {
		n += recordHeaderSize + frameHeaderSize + controlSize[f.typ] + tagSize
	}
	return n
}

// appendFrame appends a record with a frame of n bytes from src. Among a carrier's
// first records it adds random padding and, half the time, a padding record before.
func (c *recordConn) appendFrame(out []byte, typ byte, src *gather, n int) []byte {
	pad := 0
	if c.wr.seq < paddedRecords {
		if mrand.IntN(2) == 0 {
			out = c.appendRecord(out, framePadding, src, 0, mrand.IntN(maxEarlyPadding+1))
		}
		pad = min(mrand.IntN(maxEarlyPadding+1), maxRecordData-n)
	}
	return c.appendRecord(out, typ, src, n, pad)
}

// appendRecord seals one record of n bytes from src and pad bytes of padding in place
// at the end of out.
func (c *recordConn) appendRecord(out []byte, typ byte, src *gather, n, pad int) []byte {
	hdrAt := len(out)
	out = append(out, 0, 0)
	ptAt := len(out)
	out = append(out, typ, byte(n>>8), byte(n))
	out = src.appendN(out, n)
	out = append(out, make([]byte, pad)...)
	binary.BigEndian.PutUint16(out[hdrAt:], uint16(len(out)-ptAt+tagSize))
	c.wr.mask.XORKeyStream(out[hdrAt:ptAt], out[hdrAt:ptAt])
	out = c.wr.aead.Seal(out[:ptAt], c.wr.nonce(), out[ptAt:], out[hdrAt:ptAt])
	c.wr.seq++
	return out
}

// gather reads the concatenation of several byte slices.
type gather struct {
	v   [][]byte
	off int
}

func (g *gather) remaining() int {
	n := -g.off
	for _, b := range g.v {
		n += len(b)
	}
	return n
}

func (g *gather) appendN(out []byte, n int) []byte {
	for n > 0 {
		b := g.v[0][g.off:]
		k := min(n, len(b))
		out = append(out, b[:k]...)
		n -= k
		g.off += k
		if g.off == len(g.v[0]) {
			g.v, g.off = g.v[1:], 0
		}
	}
	return out
}

// Close closes the carrier, which also ends a blocked Read or send.
func (c *recordConn) Close() error {
	c.closeOnce.Do(func() { c.closeErr = c.conn.Close() })
	return c.closeErr
}
