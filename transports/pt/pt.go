// Package pt runs any Tor pluggable transport program (obfs4proxy, lyrebird,
// snowflake-client, …) as a transport, speaking the PT 1.0 managed-proxy protocol as
// Tor does. A bridge line names the PT method, never the program: that is local config.
package pt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/umbrella-edge/edge/transports"
)

// Name is the transport's name in bridge lines:
//
//	pt 203.0.113.5:443 method=obfs4 cert=… iat-mode=0 key=… secret=…
//
// method= names the PT method; the other arguments are the method's own, as in a Tor
// bridge line, and reach the PT program as Tor passes them.
const Name = "pt"

// argMethod is the bridge-line argument that names the PT method.
const argMethod = "method"

// Errors a caller branches on.
var (
	// ErrNoProgram: no program is configured or found in PATH for the method.
	ErrNoProgram = errors.New("no program serves this PT method")
	// ErrClosed: the transport was closed.
	ErrClosed = errors.New("pt transport closed")
)

// defaultPrograms are the programs looked up in PATH for a method that
// Config.Binaries does not name, in order of preference.
var defaultPrograms = map[string][]string{
	"obfs4":        {"lyrebird", "obfs4proxy"},
	"meek_lite":    {"lyrebird", "obfs4proxy"},
	"obfs3":        {"lyrebird", "obfs4proxy"},
	"scramblesuit": {"lyrebird", "obfs4proxy"},
	"webtunnel":    {"lyrebird"},
	"snowflake":    {"snowflake-client"},
}

// Config is the local configuration of PT programs. Only the local user or operator
// sets it: a bridge line, which may come from a stranger, can name a method but never
// a program.
type Config struct {
	// Binaries maps a PT method ("obfs4") to the executable that serves it. A method
	// not listed is served by the first program found in PATH of those known to
	// serve it: lyrebird or obfs4proxy for obfs4, meek_lite, obfs3 and scramblesuit;
	// lyrebird for webtunnel; snowflake-client for snowflake.
	Binaries map[string]string
	// StateDir is where client-side PT programs keep state (TOR_PT_STATE_LOCATION), a
	// directory per method. Empty means a temporary directory per program run. A
	// listener uses its own ListenConfig.StateDir.
	StateDir string
	// StartTimeout bounds a program's start, until it has reported its methods; 0
	// means 30 s.
	StartTimeout time.Duration
	// Logger receives the programs' exits and log lines; nil discards them.
	Logger *slog.Logger
}

// Transport is the pt transport, a transports.Transport whose Name, NewDialer and
// Listen are transports.Define's. Its client side runs one PT program per method,
// shared by all its dialers, started at the first dial and again if it dies.
type Transport struct {
	defined // Name, NewDialer and Listen, from transports.Define

	cfg Config
	log *slog.Logger

	ctx    context.Context // ends at Close: stops starts in progress
	cancel context.CancelFunc

	mu      sync.Mutex
	closed  bool
	proxies map[string]*clientProxy // by method
}

// New returns the pt transport with cfg. Close it to stop its client programs.
func New(cfg Config) *Transport {
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 30 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &Transport{
		cfg:     cfg,
		log:     log.With("transport", Name),
		ctx:     ctx,
		cancel:  cancel,
		proxies: make(map[string]*clientProxy),
	}
	t.defined = transports.Define(Name, t.newDialer, t.listen, t.checkListen).(defined)
	return t
}

// defined names the embedded transports.Define, whose methods Transport exposes.
type defined interface {
	transports.Transport
	transports.ListenChecker
}

// Close stops the client-side programs, which ends the connections through them.
// Listeners are closed on their own.
func (t *Transport) Close() error {
	t.mu.Lock()
	t.closed = true
	proxies := t.proxies
	t.proxies = nil
	t.mu.Unlock()
	t.cancel()
	for _, p := range proxies {
		p.stop()
	}
	return nil
}

// program returns the executable configured or found for method.
func (t *Transport) program(method string) (string, error) {
	if p, ok := t.cfg.Binaries[method]; ok {
		return p, nil
	}
	for _, name := range defaultPrograms[method] {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	if names := defaultPrograms[method]; len(names) > 0 {
		return "", fmt.Errorf("%w: method %s: install %s, or name a program for it", ErrNoProgram, method, names[0])
	}
	return "", fmt.Errorf("%w: method %s: name a program for it (configured: %v)", ErrNoProgram, method, sortedMethods(t.cfg.Binaries))
}

// methodArg returns args' method= and the method's own arguments.
func methodArg(args transports.Args) (string, transports.Args, error) {
	method, err := args.Required(argMethod)
	if err != nil {
		return "", nil, err
	}
	if !isMethodName(method) {
		return "", nil, &transports.ArgError{Key: argMethod, Err: errors.New("want a PT method name (letters, digits and _)")}
	}
	own := args.Clone()
	delete(own, argMethod)
	return method, own, nil
}

// stateDir returns the state directory for one program run, and a func that removes
// it when it was made for that run only.
func stateDir(dir, name string) (string, func(), error) {
	if dir != "" {
		d := filepath.Join(dir, name)
		if err := os.MkdirAll(d, 0o700); err != nil {
			return "", nil, fmt.Errorf("state directory: %w", err)
		}
		return d, func() {}, nil
	}
	d, err := os.MkdirTemp("", "umbrella-pt-"+name+"-")
	if err != nil {
		return "", nil, fmt.Errorf("state directory: %w", err)
	}
	return d, func() { os.RemoveAll(d) }, nil
}

// managedEnv is the environment every managed proxy gets.
func managedEnv(state string) []string {
	return []string{
		"TOR_PT_MANAGED_TRANSPORT_VER=1",
		"TOR_PT_STATE_LOCATION=" + state,
		"TOR_PT_EXIT_ON_STDIN_CLOSE=1",
	}
}
