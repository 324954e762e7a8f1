package websocket

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"

	ws "github.com/coder/websocket"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/internal/httpfront"
	"github.com/umbrella-edge/edge/transports/tlskit"
)

// userAgents are the User-Agent headers of the browsers whose ClientHellos utls sends
// (the Chromium and Firefox captures, and Safari on macOS), so the CDN, which sees the
// request, sees a browser rather than Go's default "Go-http-client/1.1", which CDN bot
// rules may challenge.
var userAgents = map[string]string{
	tlskit.FPChrome:  "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36",
	tlskit.FPFirefox: "Mozilla/5.0 (X11; Linux x86_64; rv:153.0) Gecko/20100101 Firefox/153.0",
	tlskit.FPSafari:  "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Safari/605.1.15",
}

type dialer struct {
	addr   string // the CDN's edge, or the gateway
	tls    *tlskit.Client
	url    string
	header http.Header
	client *http.Client
}

func newDialer(addr string, args transports.Args, roots *x509.CertPool) (*dialer, error) {
	if err := args.Unknown(append([]string{argURL, argHost, argPath}, tlskit.ClientArgs...)...); err != nil {
		return nil, err
	}
	if err := transports.CheckHostPort(addr); err != nil {
		return nil, fmt.Errorf("bridge address %q: %w", addr, err)
	}
	host, path, err := target(args)
	if err != nil {
		return nil, err
	}
	hostname := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		hostname = h
	}
	tlsArgs := args.Clone()
	for _, k := range []string{argURL, argHost, argPath} {
		delete(tlsArgs, k)
	}
	tc, err := tlskit.NewClient(hostname, tlsArgs, roots)
	if err != nil {
		return nil, err
	}
	d := &dialer{
		addr: addr,
		tls:  tc,
		url:  "https://" + host + path,
		header: http.Header{
			"User-Agent": {userAgents[tc.Fingerprint()]},
			"Origin":     {"https://" + host},
		},
	}
	d.client = &http.Client{Transport: &http.Transport{
		DialTLSContext: d.dialTLS,
		// One request per connection, and that one becomes the WebSocket.
		DisableKeepAlives: true,
		// A non-nil empty map keeps net/http from speaking HTTP/2, which has no Upgrade.
		TLSNextProto:           map[string]func(string, *tls.Conn) http.RoundTripper{},
		MaxResponseHeaderBytes: httpfront.MaxHead,
	}}
	return d, nil
}

// target reads url=, or host= and path=, into the Host header and the request path.
func target(args transports.Args) (host, path string, err error) {
	if raw, ok := args[argURL]; ok {
		for _, k := range []string{argHost, argPath} {
			if _, ok := args[k]; ok {
				return "", "", &transports.ArgError{Key: k, Err: errors.New("url= already gives it")}
			}
		}
		u, err := httpfront.ParseURL(raw, "https", "wss")
		if err != nil {
			return "", "", &transports.ArgError{Key: argURL, Err: err}
		}
		return u.Host, u.EscapedPath(), nil
	}
	host = args.Get(argHost, args.Get(argServerName, ""))
	if host == "" {
		return "", "", &transports.ArgError{Key: argHost, Err: fmt.Errorf("%w: give host= (or servername=, or url=)", transports.ErrMissingArg)}
	}
	if err := httpfront.CheckHost(host); err != nil {
		return "", "", &transports.ArgError{Key: argHost, Err: err}
	}
	if path, err = args.Required(argPath); err != nil {
		return "", "", err
	}
	if err := httpfront.CheckPath(path); err != nil {
		return "", "", &transports.ArgError{Key: argPath, Err: err}
	}
	return host, path, nil
}

// dialed carries a Dial's context into the http.Transport's dial, and the carrier
// back out, for its addresses.
type dialed struct {
	// ctx is the Dial's own: net/http detaches its dials from the request's
	// cancellation (a later request might use the conn), but a Dial abandoned by a
	// client racing bridges must stop its connect and handshake at once.
	ctx  context.Context
	mu   sync.Mutex
	conn *heldWrites
}

type dialedKey struct{}

// dialTLS is the http.Transport's dial: whatever address the URL names, it connects to
// the bridge address (the CDN) with the bridge's TLS server name.
func (d *dialer) dialTLS(ctx context.Context, _, _ string) (net.Conn, error) {
	rec, ok := ctx.Value(dialedKey{}).(*dialed)
	if !ok {
		return nil, errors.New("websocket: dial outside Dial")
	}
	c, err := httpfront.DialTLS(rec.ctx, d.addr, d.tls)
	if err != nil {
		return nil, err
	}
	held := &heldWrites{Conn: c}
	rec.mu.Lock()
	rec.conn = held
	rec.mu.Unlock()
	return held, nil
}

func (d *dialer) Dial(ctx context.Context) (net.Conn, error) {
	rec := &dialed{ctx: ctx}
	c, resp, err := ws.Dial(context.WithValue(ctx, dialedKey{}, rec), d.url, &ws.DialOptions{
		HTTPClient: d.client,
		HTTPHeader: d.header,
	})
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			err = fmt.Errorf("%w: got %q (is the path right, and does the CDN pass WebSocket on?)", ErrNoUpgrade, resp.Status)
		}
		return nil, fmt.Errorf("%s: dial %s: %w", Name, d.addr, transports.ContextError(ctx, err))
	}
	rec.mu.Lock()
	carrier := rec.conn
	rec.mu.Unlock()
	cn := newConn(c, carrier.LocalAddr(), carrier.RemoteAddr())
	cn.held = carrier
	cn.SawHeader(resp.Header)
	return cn, nil
}
