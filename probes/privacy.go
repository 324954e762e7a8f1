package probes

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strings"

	"github.com/umbrella-edge/edge/bridge"
)

// A Redactor decides what of a bridge a report shows, so that a tester can share a
// report without burning the bridges in it. A report never shows a bridge's secret,
// its key, obfs4's or quicobfs's cert=, pin=, or a web transport's secret path; by
// default it shows no address or name either, only a keyed hash of each: "#" and 16
// hex digits of HMAC-SHA256 under a key drawn for the run and never written, so one
// report shows which lines share an address without saying which, and two reports
// cannot be joined. IncludeAddresses shows addresses and names as they are.
type Redactor struct {
	include bool
	key     [32]byte
}

// NewRedactor returns a redactor with a fresh key; includeAddresses shows addresses
// and names.
func NewRedactor(includeAddresses bool) *Redactor {
	r := &Redactor{include: includeAddresses}
	rand.Read(r.key[:])
	return r
}

// Name is an address, host name, or IP as a report shows it.
func (r *Redactor) Name(s string) string {
	if r.include || s == "" {
		return s
	}
	h := hmac.New(sha256.New, r.key[:])
	h.Write([]byte(s))
	return "#" + hex.EncodeToString(h.Sum(nil)[:8])
}

// Names is Name of each.
func (r *Redactor) Names(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = r.Name(s)
	}
	return out
}

// Bridge names line b in a report: its transport and its address.
func (r *Redactor) Bridge(b bridge.Line) string { return b.Transport + " " + r.Name(b.Addr) }

// ErrorText is the text of an error met probing b, for a report that includes
// addresses; "" for one that does not, since errors name addresses and server names.
// The bridge's secrets are cut out of it either way.
func (r *Redactor) ErrorText(b bridge.Line, err error) string {
	if !r.include || err == nil {
		return ""
	}
	text := err.Error()
	for _, secret := range secretsOf(b) {
		text = strings.ReplaceAll(text, secret, "[redacted]")
	}
	return text
}

// secretsOf lists what a report never shows of b, however it is spelled in an error:
// the values of key=, secret=, cert=, pin=, path=, and url='s path.
func secretsOf(b bridge.Line) []string {
	out := []string{bridge.EncodeKey(b.Key), bridge.EncodeKey(b.Secret[:])}
	for _, k := range []string{"cert", "pin", "path"} {
		if v := b.Args[k]; v != "" {
			out = append(out, v)
		}
	}
	if u, err := url.Parse(b.Args["url"]); err == nil && len(u.Path) > 1 {
		out = append(out, u.Path, strings.Trim(u.Path, "/"))
	}
	return out
}
