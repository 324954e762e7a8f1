package tlskit

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
)

// JA4 returns the JA4 fingerprint of a whole ClientHello as sent over TCP: one or more
// TLS records (see ParseClientHello).
func JA4(records []byte) (string, error) {
	h, err := ParseClientHello(records)
	if err != nil {
		return "", err
	}
	return h.JA4(), nil
}

// JA4 is the hello's JA4 fingerprint (FoxIO's TLS client fingerprint, the one censors
// and CDNs key on), as over TCP; empty for a hello cut short. The spec is
// FoxIO-LLC/ja4, technical_details/JA4.md.
func (h *ClientHello) JA4() string {
	if !h.Complete {
		return ""
	}
	suites := withoutGREASE(h.CipherSuites)
	var exts []uint16
	sni := "i"
	for _, e := range h.Extensions {
		if isGREASE(e.Type) {
			continue
		}
		exts = append(exts, e.Type)
		if e.Type == extServerName {
			sni = "d"
		}
	}
	a := fmt.Sprintf("t%s%s%02d%02d%s", ja4Version(h), sni, min(len(suites), 99), min(len(exts), 99), ja4ALPN(h.ALPN))

	b := "000000000000"
	if len(suites) > 0 {
		b = ja4Hash(hexList(sorted(suites)))
	}

	// JA4 leaves SNI and ALPN out of the hash: part a already shows them.
	hashed := slices.DeleteFunc(slices.Clone(exts), func(t uint16) bool { return t == extServerName || t == extALPN })
	c := "000000000000"
	if len(hashed) > 0 {
		s := hexList(sorted(hashed))
		if sigs := withoutGREASE(h.SignatureAlgorithms); len(sigs) > 0 {
			s += "_" + hexList(sigs) // in the hello's order: JA4 does not sort these
		}
		c = ja4Hash(s)
	}
	return a + "_" + b + "_" + c
}

// ja4Version is the highest non-GREASE supported_versions entry, or the legacy version
// when the extension is absent.
func ja4Version(h *ClientHello) string {
	v := h.LegacyVersion
	if vs := withoutGREASE(h.SupportedVersions); len(vs) > 0 {
		v = slices.Max(vs)
	}
	switch v {
	case 0x0304:
		return "13"
	case 0x0303:
		return "12"
	case 0x0302:
		return "11"
	case 0x0301:
		return "10"
	case 0x0300:
		return "s3"
	case 0x0002:
		return "s2"
	case 0xfeff:
		return "d1"
	case 0xfefd:
		return "d2"
	case 0xfefc:
		return "d3"
	}
	return "00"
}

// ja4ALPN is the first and last character of the first ALPN value, or of its hex form
// when either end is not alphanumeric.
func ja4ALPN(alpn []string) string {
	if len(alpn) == 0 || alpn[0] == "" {
		return "00"
	}
	p := alpn[0]
	first, last := p[0], p[len(p)-1]
	if !isAlnum(first) || !isAlnum(last) {
		x := hex.EncodeToString([]byte(p))
		first, last = x[0], x[len(x)-1]
	}
	return string([]byte{first, last})
}

func isAlnum(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

func ja4Hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:6])
}

func hexList(vs []uint16) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = fmt.Sprintf("%04x", v)
	}
	return strings.Join(parts, ",")
}

func withoutGREASE(vs []uint16) []uint16 {
	return slices.DeleteFunc(slices.Clone(vs), isGREASE)
}

func sorted(vs []uint16) []uint16 {
	s := slices.Clone(vs)
	slices.Sort(s)
	return s
}
