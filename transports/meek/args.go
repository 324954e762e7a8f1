package meek

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/internal/httpfront"
	"github.com/umbrella-edge/edge/transports/tlskit"
)

// Bridge-line and listener arguments of meek's own; the TLS ones are tlskit's.
const (
	argServerName  = tlskit.ArgServerName
	argFP          = tlskit.ArgFP
	argURL         = "url"
	argHost        = "host"
	argPath        = httpfront.ArgPath
	argMaxSessions = "max-sessions"
)

// target is where the HTTP requests go inside the TLS connection: the Host header
// (the real service, which a CDN routes on) and the path.
type target struct {
	host string
	path string
}

func (t target) url() string { return "https://" + t.host + t.path }

// parseTarget reads url=, or host= and path=, defaulting the host to defaultHost and
// the path to defaultPath ("" makes it required).
func parseTarget(args transports.Args, defaultHost, defaultPath string) (target, error) {
	raw, hasURL := args[argURL]
	if hasURL {
		for _, k := range []string{argHost, argPath} {
			if _, ok := args[k]; ok {
				return target{}, &transports.ArgError{Key: k, Err: fmt.Errorf("give url= or host= and path=, not both")}
			}
		}
		t, err := parseURL(raw)
		if err != nil {
			return target{}, &transports.ArgError{Key: argURL, Err: err}
		}
		return t, nil
	}
	t := target{host: args.Get(argHost, defaultHost), path: args.Get(argPath, defaultPath)}
	if err := checkHost(t.host); err != nil {
		return target{}, &transports.ArgError{Key: argHost, Err: err}
	}
	if t.path == "" {
		return target{}, &transports.ArgError{Key: argURL, Err: fmt.Errorf("%w: url=https://HOST/PATH (or path=) names the gateway's secret path", transports.ErrMissingArg)}
	}
	if err := httpfront.CheckPath(t.path); err != nil {
		return target{}, &transports.ArgError{Key: argPath, Err: err}
	}
	return t, nil
}

func parseURL(raw string) (target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return target{}, fmt.Errorf("not a URL: %q", raw)
	}
	switch {
	case u.Scheme != "https":
		return target{}, fmt.Errorf("want an https:// URL (the carrier is TLS), got %q", raw)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return target{}, fmt.Errorf("want https://HOST/PATH without user, query or fragment, got %q", raw)
	}
	t := target{host: u.Host, path: u.EscapedPath()}
	if err := checkHost(t.host); err != nil {
		return target{}, err
	}
	if err := httpfront.CheckPath(t.path); err != nil {
		return target{}, err
	}
	return t, nil
}

// checkHost accepts a DNS name or IP, with an optional port, as a Host header holds.
func checkHost(h string) error {
	name := h
	if host, _, err := net.SplitHostPort(h); err == nil {
		if err := transports.CheckHostPort(h); err != nil {
			return err
		}
		name = host
	}
	if name == "" || len(name) > 253 {
		return fmt.Errorf("want a host name, got %q", h)
	}
	if net.ParseIP(name) != nil {
		return nil
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return fmt.Errorf("want a host name, got %q", h)
		}
	}
	return nil
}

// Session ids: Tor's meek-client sends base64 of 32 random bytes; any id of 8 to 128
// characters of base64 (standard or URL alphabet) is accepted.
const (
	minSessionID = 8
	maxSessionID = 128
)

func validSessionID(id string) bool {
	if len(id) < minSessionID || len(id) > maxSessionID {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("+/=-_", c) >= 0) {
			return false
		}
	}
	return true
}

// parseWindow reads an X-Session-Window value.
func parseWindow(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 1<<30 || strconv.Itoa(n) != v {
		return 0, fmt.Errorf("%w: %s %q", ErrProtocol, hdrWindow, v)
	}
	return n, nil
}

// parseEnd reads an X-Session-End value; absent is endNone.
func parseEnd(v string) (end, error) {
	switch v {
	case "":
		return endNone, nil
	case "eof":
		return endEOF, nil
	case "close":
		return endClose, nil
	}
	return endNone, fmt.Errorf("%w: %s %q", ErrProtocol, hdrEnd, v)
}

func (e end) String() string {
	switch e {
	case endEOF:
		return "eof"
	case endClose:
		return "close"
	}
	return ""
}
