// Package config reads and validates the gateway's and client's YAML files and keeps
// key files; bridge lines are the bridge package's. It does not start anything.
package config

import (
	"time"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/transports"
)

// Gateway is a gateway's YAML configuration.
//
//	state_dir: /var/lib/umbrella
//	secrets: [secret.key]           # files in state_dir, or inline base64url
//	listeners:
//	  - transport: utls
//	    listen: 0.0.0.0:443
//	    public: 203.0.113.5:443        # address in bridge lines; defaults to listen
//	    args: {servername: www.example.com}
//	services:
//	  mls: 127.0.0.1:7000
//	decoy: {dir: /srv/www}            # or {proxy: https://example.org}
//	admin: 127.0.0.1:9090
//	limits: {max_sessions: 5000, resume_grace: 5m}  # see Limits for the defaults
//	probe: {enabled: true}            # the built-in echo service umbrella probe uses
//	log: {level: info, client_ips: false}
//	identity: {next: identity-next.key, switch_at: 2027-01-10T00:00:00Z}  # a key rotation
//	fleet: {edge: edge-a, link: 10.0.0.5:7443, redis: {addr: 10.0.0.9:6379}}  # see Fleet
type Gateway struct {
	// StateDir holds identity.key, secret files and generated certificates (mode 0600).
	// Required. "~/" is the home directory; a relative path is relative to the config
	// file's directory.
	StateDir string `yaml:"state_dir"`
	// Secrets are bridge secrets, inline (base64url, 32 bytes) or file names under
	// StateDir. Empty means one generated secret in StateDir/secret.key.
	Secrets   []string   `yaml:"secrets"`
	Listeners []Listener `yaml:"listeners"`
	// Services maps the names streams ask for ("mls") to backend host:port addresses.
	Services map[string]string `yaml:"services"`
	Decoy    Decoy             `yaml:"decoy"`
	// Admin is the host:port of the /metrics and /healthz listener; empty means off.
	// Keep it on loopback: metrics reveal that this host is a bridge.
	Admin  string `yaml:"admin"`
	Limits Limits `yaml:"limits"`
	// Probe is the built-in echo service that umbrella probe measures with.
	Probe Probe `yaml:"probe"`
	Log   Log   `yaml:"log"`
	// PTPrograms maps a Tor pluggable-transport method ("obfs4") to the program that
	// serves it for pt listeners (absolute paths); unlisted methods are looked up in PATH.
	PTPrograms map[string]string `yaml:"pt_programs"`
	// ACME, when it names domains, gets the TLS certificates of those listeners'
	// servername= from an ACME CA (Let's Encrypt) and renews them while running.
	ACME ACME `yaml:"acme,omitempty"`
	// Identity names the identity key file (StateDir/identity.key by default) and
	// the rotation to another key under way, if any.
	Identity Identity `yaml:"identity,omitempty"`
	// Fleet makes this gateway an edge of a fleet (see Fleet); nil runs it alone,
	// with all its state in memory and state_dir.
	Fleet *Fleet `yaml:"fleet,omitempty"`
	// Line numbers of fields, for errors found after parsing (filled by ParseGateway).
	Source Source `yaml:"-"`
}

// Listener is one transport listener of a gateway.
type Listener struct {
	// Transport is a registered transport name ("utls").
	Transport string `yaml:"transport"`
	// Listen is the host:port to bind; port 0 picks a free port.
	Listen string `yaml:"listen"`
	// Public is the host:port clients dial, printed in bridge lines. Empty means the
	// bound address, and is an error when Listen is a wildcard (0.0.0.0, [::], ":443").
	Public string `yaml:"public"`
	// Args are the transport's server options.
	Args transports.Args `yaml:"args"`
}

// ACME configures certificates from an ACME CA:
//
//	acme:
//	  domains: [www.example.com]       # servername= of TLS listeners
//	  email: ops@example.com           # optional: the CA's expiry warnings
//	  directory: https://acme-v02.api.letsencrypt.org/directory   # the default
//	  ca_file: pebble-api.pem          # roots of the directory's HTTPS; a test CA's
//	  http: 0.0.0.0:80                 # optional: answer http-01 here too
//	  renew_before: 720h               # default: a third of the lifetime, at most 30 days
//
// The CA validates through the listeners themselves (tls-alpn-01, on port 443), or
// through http: (http-01, port 80). No domains means no ACME.
type ACME struct {
	Domains   []string `yaml:"domains"`
	Email     string   `yaml:"email"`
	Directory string   `yaml:"directory"`
	// CAFile is a PEM file of the roots that the directory's own HTTPS chains to,
	// trusted beside the system's; relative to the config file. Only a private or
	// test CA (Pebble) needs it.
	CAFile      string        `yaml:"ca_file"`
	HTTP        string        `yaml:"http"`
	RenewBefore time.Duration `yaml:"renew_before"`
}

// Decoy is the website shown to peers that fail authentication: files from Dir, or
// another site through Proxy, not both. Neither means a built-in plain page.
type Decoy struct {
	Dir   string `yaml:"dir"`
	Proxy string `yaml:"proxy"`
}

// Limits bound what one gateway gives away. Zero means the default, which ParseGateway
// fills in from the package that enforces the limit.
type Limits struct {
	HandshakeTimeout time.Duration `yaml:"handshake_timeout"` // default limits.DefaultHandshakeTimeout
	MaxSessions      int           `yaml:"max_sessions"`      // default limits.DefaultMaxSessions
	MaxStreams       int           `yaml:"max_streams"`       // per session, default session.DefaultMaxStreams
	// ResumeGrace is how long a session whose carrier died waits for the client to
	// resume it (keeping its backend connections) before it ends.
	ResumeGrace time.Duration `yaml:"resume_grace"` // default session.DefaultResumeGrace
	// ResumeBuffer bounds each session's unacknowledged bytes per direction, in bytes;
	// writes wait when it is full.
	ResumeBuffer int `yaml:"resume_buffer"` // default session.DefaultResumeBuffer, at least session.MinResumeBuffer
	// MemoryBudget bounds the bytes all sessions buffer together (stream receive and
	// resend buffers, detached sessions' included), in bytes. Past half of it, a session
	// holding more than its share (budget / sessions) is slowed; past all of it, the
	// sessions holding the most are closed until the rest fit. 0 means a quarter of
	// the smaller of RAM and the cgroup's memory limit, read when the gateway starts,
	// at least 64 MiB and at most 4 GiB (gateway.DefaultMemoryBudget).
	MemoryBudget int64 `yaml:"memory_budget"` // default 0: from the machine's memory; else at least limits.MinMemoryBudget
	// StreamOpenBurst and StreamOpenRate bound how fast one session opens streams: a
	// burst, then so many a second. Opens beyond are refused (ErrStreamLimit).
	StreamOpenBurst int `yaml:"stream_open_burst"` // default session.DefaultStreamOpenBurst
	StreamOpenRate  int `yaml:"stream_open_rate"`  // a second, default session.DefaultStreamOpenRate
	// MaxHandshakes bounds the peers each listener holds before they are sessions; a
	// newcomer to a full listener evicts an old idle one.
	MaxHandshakes int `yaml:"max_handshakes"` // per listener, default limits.DefaultMaxHandshakes
	// FirstBytesTimeout is how long a carrier may stay silent after its transport
	// handshake before it loses its place.
	FirstBytesTimeout time.Duration `yaml:"first_bytes_timeout"` // default limits.DefaultFirstBytesTimeout, at least limits.MinFirstBytesTimeout
	// MaxHeld bounds the rejected peers held in silence or the decoy site at once;
	// past it the oldest is closed early.
	MaxHeld int `yaml:"max_held"` // default limits.DefaultMaxHeld
}

// Log configures logging.
type Log struct {
	Level     string `yaml:"level"`      // debug, info, warn, error; default info
	ClientIPs bool   `yaml:"client_ips"` // log client addresses; default false
}

// Client is a client's YAML configuration.
//
//	state_dir: ~/.local/state/umbrella
//	bridges:
//	  - utls 203.0.113.5:443 key=… secret=… servername=www.example.com fp=chrome
//	socks: 127.0.0.1:1080
//	http: 127.0.0.1:8080
//	forwards: {"127.0.0.1:7443": mls}
//	hosts: {chat.example.org: mls}      # SOCKS/HTTP host names mapped to services
//	log: {level: info}
//
// state_dir is optional (empty: nothing is remembered between runs) and expanded like the
// gateway's. socks, http and forwards listen addresses; empty means off.
type Client struct {
	StateDir string            `yaml:"state_dir"`
	Bridges  []bridge.Line     `yaml:"bridges"` // written as bridge-line strings
	SOCKS    string            `yaml:"socks"`
	HTTP     string            `yaml:"http"`
	Forwards map[string]string `yaml:"forwards"`
	Hosts    map[string]string `yaml:"hosts"`
	Log      Log               `yaml:"log"`
	// PTPrograms maps a Tor pluggable-transport method to the program that serves it for
	// pt bridge lines (absolute paths). Bridge lines only name methods: they come from
	// strangers and must never choose what runs here.
	PTPrograms map[string]string `yaml:"pt_programs"`
	// CAFile is a PEM file of certificate authorities trusted beside the system's,
	// for bridges whose TLS certificate a private CA issued (and the operations
	// tests' ACME server). Relative to the config file; empty means the system's
	// roots alone. It is never in a bridge line: a stranger's line must not choose
	// whom this client trusts.
	CAFile string `yaml:"ca_file"`
	// Idle is how often an idle session pings its gateway: "foreground" (every 5 s,
	// the default) or "background" (every 60 s, for a device whose battery matters
	// more than how soon a silent cut is noticed); see client.IdlePreset.
	Idle   string `yaml:"idle"`
	Source Source `yaml:"-"`
}

// Source remembers where a config came from, for error messages (see Wrap).
type Source struct {
	File  string
	Lines map[string]int // field path ("listeners[1].transport", indexes from 0) → line
}
