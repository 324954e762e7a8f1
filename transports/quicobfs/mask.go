package quicobfs

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/umbrella-edge/edge/internal/replay"
)

// Every datagram on the wire is
//
//	salt (16 random bytes) || QUIC datagram XOR AES-256-CTR(K, IV = salt)
//
// with K = HKDF-SHA256(key, info = maskInfo), key being the bridge line's cert=. A
// client's datagrams that start with an Initial packet also carry a stamp under the
// mask, after the QUIC datagram, so that the listener answers each at most once
// (stamp.go).
//
//   - The salt's first two bits are 01, so a datagram starts as a QUIC short-header
//     packet does (RFC 9000 section 17.3.1): a classifier that looks for QUIC
//     handshakes by their long header (a version field, an Initial to read a server
//     name from) finds none, where half of all random first bytes would look like one.
//   - The other 126 random bits give every datagram its own keystream: two share
//     keystream only if their IVs fall within a hundred counter blocks of each other.
//   - AES-CTR rather than ChaCha20: gateways run on amd64, where AES has instructions
//     and x/crypto's ChaCha20 has no assembly (0.9 against 0.45 GB/s per core here),
//     and the phones that dial them run ARMv8, which has AES instructions too.
//   - The mask hides; it does not authenticate. QUIC's AEAD does that, and a datagram
//     that does not unmask to something shaped like a QUIC packet is dropped before
//     quic-go sees it.
const (
	saltSize = aes.BlockSize
	// maskInfo names the mask's version: version 2 added the stamp, and a peer of
	// version 1 unmasks nothing of ours, nor we of its.
	maskInfo = "umbrella-edge/v2 quicobfs mask"
	// KeySize is the length of the obfuscation key in bridge lines.
	KeySize = 32
)

// minPacket is the shortest QUIC packet: header protection samples 16 bytes that
// start 4 bytes after the packet number (RFC 9001 section 5.4.2), after at least one
// header byte.
const minPacket = 1 + 4 + 16

// quicV1 is the only version the carrier speaks.
const quicV1 = 1

// maxDatagram bounds what a masked socket reads: a UDP datagram.
const maxDatagram = 64 << 10

type masker struct {
	block    cipher.Block
	stampKey []byte
}

func newMasker(key []byte) (*masker, error) {
	k, err := hkdf.Key(sha256.New, key, nil, maskInfo, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	sk, err := hkdf.Key(sha256.New, key, nil, stampInfo, 32)
	if err != nil {
		return nil, err
	}
	return &masker{block: block, stampKey: sk}, nil
}

// seal appends the masked form of packet to dst.
func (m *masker) seal(dst, packet []byte) []byte {
	n := len(dst)
	dst = append(dst, make([]byte, saltSize+len(packet))...)
	salt := dst[n : n+saltSize]
	newSalt(salt)
	m.xor(dst[n+saltSize:], packet, salt)
	return dst
}

func newSalt(salt []byte) {
	rand.Read(salt) // never fails since Go 1.24
	salt[0] = salt[0]&0x3f | 0x40
}

// open unmasks a datagram into dst, which must hold len(datagram)-saltSize bytes,
// and reports whether it is shaped like a QUIC v1 packet.
func (m *masker) open(dst, datagram []byte) ([]byte, bool) {
	if len(datagram) < saltSize+minPacket || len(dst) < len(datagram)-saltSize || datagram[0]&0xc0 != 0x40 {
		return nil, false
	}
	out := dst[:len(datagram)-saltSize]
	m.xor(out, datagram[saltSize:], datagram[:saltSize])
	return out, plausible(out)
}

func (m *masker) xor(dst, src, salt []byte) {
	cipher.NewCTR(m.block, salt).XORKeyStream(dst, src)
}

// plausible reports whether p could be a QUIC v1 packet (RFC 9000 section 17): the
// fixed bit set, and a long header with version 1 and connection IDs of at most 20
// bytes that fit in p. A random datagram passes as a short header one time in four;
// quic-go drops those silently, since the listener sends no stateless resets.
func plausible(p []byte) bool {
	if len(p) < minPacket || p[0]&0x40 == 0 {
		return false
	}
	if p[0]&0x80 == 0 {
		return true // short header: nothing more to check without connection state
	}
	if binary.BigEndian.Uint32(p[1:5]) != quicV1 {
		return false
	}
	dcid := int(p[5])
	if dcid > 20 || 6+dcid >= len(p) {
		return false
	}
	scid := int(p[6+dcid])
	return scid <= 20 && 7+dcid+scid <= len(p)
}

// maskedConn masks what it writes and unmasks what it reads; datagrams that do not
// unmask to a plausible QUIC packet are dropped without a word. A client's conn
// stamps its Initial datagrams; a listener's admits only those whose stamp is valid,
// fresh and new to its filter.
type maskedConn struct {
	net.PacketConn
	m      *masker
	client bool
	filter *replay.Filter // a listener's
	now    func() time.Time
	bufs   sync.Pool // *[]byte of maxDatagram+saltSize
}

// client and server wrap a carrier's socket for the dialer and the listener's socket.
func (m *masker) client(pc net.PacketConn) net.PacketConn {
	return m.wrap(pc, &maskedConn{client: true, now: time.Now})
}

func (m *masker) server(filter *replay.Filter, now func() time.Time) func(net.PacketConn) net.PacketConn {
	return func(pc net.PacketConn) net.PacketConn {
		return m.wrap(pc, &maskedConn{filter: filter, now: now})
	}
}

func (m *masker) wrap(pc net.PacketConn, c *maskedConn) net.PacketConn {
	c.PacketConn, c.m = pc, m
	c.bufs.New = func() any {
		b := make([]byte, maxDatagram+saltSize)
		return &b
	}
	if u, ok := pc.(*net.UDPConn); ok {
		return &maskedUDPConn{maskedConn: c, udp: u}
	}
	return c
}

// maskedUDPConn lets quic-go size the UDP socket's buffers and set its don't-fragment
// bit, as it does on the sockets it owns (and so probe the path MTU, the salt
// included), without reading or writing the socket around the mask: quic-go batches
// reads and writes only through ReadMsgUDP and WriteMsgUDP, which it does not have.
type maskedUDPConn struct {
	*maskedConn
	udp *net.UDPConn
}

func (c *maskedUDPConn) SetReadBuffer(n int) error             { return c.udp.SetReadBuffer(n) }
func (c *maskedUDPConn) SetWriteBuffer(n int) error            { return c.udp.SetWriteBuffer(n) }
func (c *maskedUDPConn) SyscallConn() (syscall.RawConn, error) { return c.udp.SyscallConn() }

func (c *maskedConn) ReadFrom(p []byte) (int, net.Addr, error) {
	bp := c.bufs.Get().(*[]byte)
	defer c.bufs.Put(bp)
	for {
		n, addr, err := c.PacketConn.ReadFrom(*bp)
		if err != nil {
			return 0, addr, err
		}
		out, ok := c.m.open(p, (*bp)[:n])
		if ok && !c.client && isInitial(out) {
			out, ok = c.admit(out, (*bp)[:saltSize])
		}
		if ok {
			return len(out), addr, nil
		}
	}
}

func (c *maskedConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	bp := c.bufs.Get().(*[]byte)
	defer c.bufs.Put(bp)
	var d []byte
	if c.client && isInitial(p) {
		d = c.m.sealStamped((*bp)[:0], p, c.now())
	} else {
		d = c.m.seal((*bp)[:0], p)
	}
	if _, err := c.PacketConn.WriteTo(d, addr); err != nil {
		return 0, err
	}
	return len(p), nil
}
