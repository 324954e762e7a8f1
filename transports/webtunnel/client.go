package webtunnel

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/internal/httpfront"
	"github.com/umbrella-edge/edge/transports/tlskit"
	"github.com/umbrella-edge/edge/transports/trust"
)

// The TLS client's arguments, which webtunnel reads to map Tor's utls= onto fp=.
const (
	argServerName = tlskit.ArgServerName
	argFP         = tlskit.ArgFP
	argFrag       = tlskit.ArgFrag
)

type dialer struct {
	addr    string
	tls     *tlskit.Client
	request []byte
}

func newDialer(addr string, args transports.Args, roots *x509.CertPool) (*dialer, error) {
	if err := args.Unknown(append([]string{argURL, argVer, argUTLS}, tlskit.ClientArgs...)...); err != nil {
		return nil, err
	}
	if err := transports.CheckHostPort(addr); err != nil {
		return nil, fmt.Errorf("bridge address %q: %w", addr, err)
	}
	raw, err := args.Required(argURL)
	if err != nil {
		return nil, err
	}
	u, err := parseURL(raw)
	if err != nil {
		return nil, &transports.ArgError{Key: argURL, Err: err}
	}
	tlsArgs := transports.Args{argServerName: args.Get(argServerName, u.Hostname())}
	for _, k := range []string{argFrag, trust.PinArg} {
		if v, ok := args[k]; ok {
			tlsArgs[k] = v
		}
	}
	if tlsArgs[argFP], err = fingerprint(args); err != nil {
		return nil, err
	}
	tc, err := tlskit.NewClient(u.Hostname(), tlsArgs, roots)
	if err != nil {
		return nil, err
	}
	return &dialer{addr: addr, tls: tc, request: upgradeRequest(u)}, nil
}

// parseURL reads url=, Tor's https://HOST[:PORT]/PATH.
func parseURL(raw string) (*url.URL, error) { return httpfront.ParseURL(raw, "https") }

// upgradeRequest is the request Tor's WebTunnel client sends, minus Go's User-Agent.
func upgradeRequest(u *url.URL) []byte {
	return []byte("GET " + u.EscapedPath() + " HTTP/1.1\r\nHost: " + u.Host +
		"\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n")
}

// fingerprint reads fp= or Tor's utls=, not both.
func fingerprint(args transports.Args) (string, error) {
	fp, hasFP := args[argFP]
	name, hasUTLS := args[argUTLS]
	switch {
	case hasFP && hasUTLS:
		return "", &transports.ArgError{Key: argUTLS, Err: errors.New("give utls= or fp=, not both")}
	case hasUTLS:
		fp, err := fpFromTorUTLS(name)
		if err != nil {
			return "", &transports.ArgError{Key: argUTLS, Err: err}
		}
		return fp, nil
	case hasFP:
		return fp, nil
	}
	return tlskit.FPChrome, nil
}

// fpFromTorUTLS maps a Tor utls= value, a uTLS ClientHelloID name such as
// hellochrome_auto (any case, any version suffix), onto our captured browser hellos:
// Chromium-based browsers (chrome, edge, 360, qq) to chrome, firefox to firefox, safari
// and ios to safari, the randomized ones to random (one of our three browsers picked per
// dialer). Empty means the default, chrome; Tor's default, hellorandomizednoalpn, has no
// ALPN, which no browser omits. "none" (Go's own TLS) is refused: it marks a Go program.
func fpFromTorUTLS(name string) (string, error) {
	s := strings.ToLower(name)
	switch {
	case s == "":
		return tlskit.FPChrome, nil
	case s == "none" || s == "hellogolang":
		return "", fmt.Errorf("%q sends Go's own ClientHello, which marks the client as a Go program; use a browser's (hellochrome_auto)", name)
	case strings.HasPrefix(s, "hellorandomized"):
		return tlskit.FPRandom, nil
	}
	family, _, _ := strings.Cut(strings.TrimPrefix(s, "hello"), "_")
	switch family {
	case "chrome", "edge", "360", "qq":
		return tlskit.FPChrome, nil
	case "firefox":
		return tlskit.FPFirefox, nil
	case "safari", "ios":
		return tlskit.FPSafari, nil
	}
	return "", fmt.Errorf("unknown uTLS hello %q (want hellochrome_*, hellofirefox_*, hellosafari_*, helloios_*, helloedge_* or hellorandomized*)", name)
}

func (d *dialer) Dial(ctx context.Context) (net.Conn, error) {
	conn, err := httpfront.DialTLS(ctx, d.addr, d.tls)
	if err != nil {
		return nil, fmt.Errorf("%s: dial %s: %w", Name, d.addr, err)
	}
	head, rest, err := httpfront.Exchange(ctx, conn, d.request)
	var resp *http.Response
	if err == nil {
		resp, err = checkResponse(head)
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("%s: dial %s: %w", Name, d.addr, err)
	}
	c := httpfront.NewConn(conn, rest, nil)
	c.SawHeader(resp.Header)
	return c, nil
}

// checkResponse accepts a 101 that agrees to the WebSocket Upgrade.
func checkResponse(head []byte) (*http.Response, error) {
	resp, err := httpfront.ParseResponse(head)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || !httpfront.IsUpgrade(resp.Header) {
		return nil, fmt.Errorf("%w: got %q (is the path right, and does the front pass Upgrade and Connection on?)", ErrNoUpgrade, resp.Status)
	}
	return resp, nil
}
