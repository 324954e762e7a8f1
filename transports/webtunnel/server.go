package webtunnel

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/internal/httpfront"
	"github.com/umbrella-edge/edge/transports/trust"
)

type listener struct {
	*httpfront.Listener
	args transports.Args
}

// serverArgs refuses unknown arguments and turns url= into the web front's own.
func serverArgs(args transports.Args) (transports.Args, *urlParts, error) {
	if err := args.Unknown(append([]string{argURL}, httpfront.ServerArgs...)...); err != nil {
		return nil, nil, err
	}
	return fromURL(args)
}

func checkListen(cfg transports.ListenConfig) error {
	args, _, err := serverArgs(cfg.Args)
	if err != nil {
		return err
	}
	return httpfront.CheckOptions(cfg.Addr, args, cfg.StateDir)
}

func listen(ctx context.Context, cfg transports.ListenConfig) (*listener, error) {
	args, public, err := serverArgs(cfg.Args)
	if err != nil {
		return nil, err
	}
	opts, err := httpfront.ParseOptions(cfg.Addr, args, cfg.StateDir)
	if err != nil {
		return nil, err
	}
	if public == nil {
		public = &urlParts{host: opts.ServerName}
	}
	ln, err := httpfront.Listen(ctx, cfg.Addr, httpfront.Config{
		Options:   opts,
		Name:      Name,
		Decoy:     cfg.Decoy,
		Logger:    cfg.Logger,
		Match:     isUpgrade,
		Upgrade:   upgrade,
		Admission: cfg.Admission,
	})
	if err != nil {
		return nil, err
	}
	args = transports.Args{
		argURL:        "https://" + public.host + opts.Path,
		argServerName: opts.ServerName,
		argVer:        Version,
	}
	if opts.Pin != "" {
		args[trust.PinArg] = opts.Pin
	}
	return &listener{Listener: ln, args: args}, nil
}

// urlParts is what a listener's url= gives: the host (and port) clients put in Host.
type urlParts struct{ host string }

// fromURL turns a listener's url= into the servername= and path= it stands for.
func fromURL(args transports.Args) (transports.Args, *urlParts, error) {
	raw, ok := args[argURL]
	if !ok {
		return args, nil, nil
	}
	if _, ok := args[httpfront.ArgPath]; ok {
		return nil, nil, &transports.ArgError{Key: httpfront.ArgPath, Err: errors.New("url= already gives the path")}
	}
	u, err := parseURL(raw)
	if err != nil {
		return nil, nil, &transports.ArgError{Key: argURL, Err: err}
	}
	out := args.Clone()
	delete(out, argURL)
	out[httpfront.ArgPath] = u.EscapedPath()
	if _, ok := out[argServerName]; !ok {
		out[argServerName] = u.Hostname()
	}
	return out, &urlParts{host: u.Host}, nil
}

func (l *listener) BridgeArgs() transports.Args { return l.args.Clone() }

func isUpgrade(req *http.Request) bool {
	return req.ProtoAtLeast(1, 1) && httpfront.IsUpgrade(req.Header)
}

// upgrade answers 101 and nothing else: from here on the conn is the raw stream.
func upgrade(c *httpfront.Conn, _ *http.Request) (net.Conn, error) {
	if err := httpfront.WriteSwitchingProtocols(bufio.NewWriterSize(c, 256), time.Now(), nil); err != nil {
		return nil, err
	}
	return c, nil
}
