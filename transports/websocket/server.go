package websocket

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"strings"
	"time"

	ws "github.com/coder/websocket"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/internal/httpfront"
	"github.com/umbrella-edge/edge/transports/trust"
)

type listener struct {
	*httpfront.Listener
	args transports.Args
}

// checkArgs refuses what listen refuses in the arguments alone, and returns front=.
func checkArgs(args transports.Args) (front string, err error) {
	if err := args.Unknown(append([]string{argHost, argFront}, httpfront.ServerArgs...)...); err != nil {
		return "", err
	}
	if front, err = frontName(args); err != nil {
		return "", err
	}
	if host, ok := args[argHost]; ok {
		if err := httpfront.CheckHost(host); err != nil {
			return "", &transports.ArgError{Key: argHost, Err: err}
		}
	}
	return front, nil
}

func checkListen(cfg transports.ListenConfig) error {
	if _, err := checkArgs(cfg.Args); err != nil {
		return err
	}
	return httpfront.CheckOptions(cfg.Addr, cfg.Args, cfg.StateDir)
}

func listen(ctx context.Context, cfg transports.ListenConfig) (*listener, error) {
	front, err := checkArgs(cfg.Args)
	if err != nil {
		return nil, err
	}
	opts, err := httpfront.ParseOptions(cfg.Addr, cfg.Args, cfg.StateDir)
	if err != nil {
		return nil, err
	}
	// Behind a CDN, the Host clients ask for is the public site's name, usually the
	// front's, not the origin's own TLS name.
	host := cfg.Args.Get(argHost, cfg.Args.Get(argFront, opts.ServerName))
	if err := httpfront.CheckHost(host); err != nil {
		return nil, &transports.ArgError{Key: argHost, Err: err}
	}
	if front == "" {
		front = host
		if h, _, err := net.SplitHostPort(host); err == nil {
			front = h
		}
	}
	ln, err := httpfront.Listen(ctx, cfg.Addr, httpfront.Config{
		Options:   opts,
		Name:      Name,
		Decoy:     cfg.Decoy,
		Logger:    cfg.Logger,
		Match:     isWebSocketRequest,
		Upgrade:   accept,
		Admission: cfg.Admission,
	})
	if err != nil {
		return nil, err
	}
	args := transports.Args{argServerName: front, argPath: opts.Path}
	if host != front {
		args[argHost] = host
	}
	if opts.Pin != "" && front == opts.ServerName {
		// Clients reach the gateway itself; behind a CDN they check the CDN's
		// certificate against their roots, and this pin would refuse it.
		args[trust.PinArg] = opts.Pin
	}
	return &listener{Listener: ln, args: args}, nil
}

// frontName reads front=, a TLS server name: a DNS name without a port.
func frontName(args transports.Args) (string, error) {
	front, ok := args[argFront]
	if !ok {
		return "", nil
	}
	err := httpfront.CheckHost(front)
	if err == nil && strings.Contains(front, ":") {
		err = errors.New("want a DNS name without a port")
	}
	if err != nil {
		return "", &transports.ArgError{Key: argFront, Err: err}
	}
	return front, nil
}

func (l *listener) BridgeArgs() transports.Args { return l.args.Clone() }

// isWebSocketRequest accepts exactly what websocket.Accept accepts (RFC 6455 section
// 4.2.1), so Accept never answers with an error page of its own: anything else gets
// the decoy.
func isWebSocketRequest(req *http.Request) bool {
	if !req.ProtoAtLeast(1, 1) || !httpfront.IsUpgrade(req.Header) || req.Header.Get("Sec-WebSocket-Version") != "13" {
		return false
	}
	keys := req.Header.Values("Sec-WebSocket-Key")
	if len(keys) != 1 {
		return false
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(keys[0]))
	return err == nil && len(key) == 16
}

// accept runs websocket.Accept on the upgraded conn.
func accept(c *httpfront.Conn, req *http.Request) (net.Conn, error) {
	w := &hijackWriter{conn: c, header: http.Header{}, bw: bufio.NewWriter(c)}
	wc, err := ws.Accept(w, req, &ws.AcceptOptions{
		// No Origin check: the peers are our clients, not pages in browsers, and
		// the secret path already decided who gets here.
		InsecureSkipVerify: true,
	})
	if err != nil {
		return nil, err
	}
	return newConn(wc, c.LocalAddr(), c.RemoteAddr()), nil
}

// hijackWriter is the http.ResponseWriter websocket.Accept needs, over a conn whose
// request was already read: it writes the 101 as nginx would and hands over the conn.
type hijackWriter struct {
	conn   *httpfront.Conn
	header http.Header
	bw     *bufio.Writer
	err    error
}

func (w *hijackWriter) Header() http.Header { return w.header }

func (w *hijackWriter) WriteHeader(code int) {
	if code != http.StatusSwitchingProtocols {
		// isWebSocketRequest let through a request Accept refuses: close rather than
		// answer with an error page that is not nginx's.
		w.err = errors.New("websocket: Accept refused a request the listener matched")
		return
	}
	w.err = httpfront.WriteSwitchingProtocols(w.bw, time.Now(), w.header)
}

func (w *hijackWriter) Write(p []byte) (int, error) { return len(p), nil }

func (w *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.err != nil {
		return nil, nil, w.err
	}
	return w.conn, bufio.NewReadWriter(bufio.NewReader(w.conn), w.bw), nil
}
