package tlskit

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// JA3 is the hello's JA3 string (Salesforce's TLS client fingerprint before its MD5,
// github.com/salesforce/ja3): version, cipher suites, extensions, groups and point
// formats, in the hello's order, GREASE left out. Empty for a hello cut short.
func (h *ClientHello) JA3() string {
	if !h.Complete {
		return ""
	}
	exts := make([]uint16, len(h.Extensions))
	for i, e := range h.Extensions {
		exts[i] = e.Type
	}
	formats := make([]uint16, len(h.PointFormats))
	for i, f := range h.PointFormats {
		formats[i] = uint16(f)
	}
	return fmt.Sprintf("%d,%s,%s,%s,%s", h.LegacyVersion, ja3List(h.CipherSuites), ja3List(exts), ja3List(h.SupportedGroups), ja3List(formats))
}

// JA3Hash is the MD5 of JA3, the form allow lists carry; empty for a hello cut short.
func (h *ClientHello) JA3Hash() string {
	s := h.JA3()
	if s == "" {
		return ""
	}
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func ja3List(vs []uint16) string {
	var parts []string
	for _, v := range vs {
		if !isGREASE(v) {
			parts = append(parts, strconv.Itoa(int(v)))
		}
	}
	return strings.Join(parts, "-")
}
