package config

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/gateway/limits"
	"github.com/umbrella-edge/edge/session"
	"github.com/umbrella-edge/edge/transports"
)

var known = []string{"tcp", "utls"}

// minimalGateway is the smallest valid gateway config; cases below vary it.
const minimalGateway = `state_dir: /var/lib/umbrella
listeners:
  - {transport: tcp, listen: 127.0.0.1:8443}
services: {mls: 127.0.0.1:7000}
`

// acmeGateway has a utls listener for www.example.com, for the acme cases.
const acmeGateway = `state_dir: /var/lib/umbrella
listeners:
  - {transport: utls, listen: 127.0.0.1:8443, args: {servername: www.example.com}}
services: {mls: 127.0.0.1:7000}
`

// fieldErrors flattens the joined errors a parser returns.
func fieldErrors(t *testing.T, err error) []*FieldError {
	t.Helper()
	var out []*FieldError
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Fatalf("error %q is not a *FieldError", err)
		}
		out = append(out, fe)
	}
	walk(err)
	return out
}

// wantFieldError fails unless err holds a *FieldError whose message is want.
func wantFieldError(t *testing.T, err error, want string) *FieldError {
	t.Helper()
	if err == nil {
		t.Fatalf("parse succeeded, want error %q", want)
	}
	fes := fieldErrors(t, err)
	for _, fe := range fes {
		if fe.Error() == want {
			return fe
		}
	}
	t.Fatalf("error lacks %q; got:\n%v", want, err)
	return nil
}

func TestParseGatewayErrorsNameFileLineAndField(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown transport", `state_dir: /s
services: {mls: 127.0.0.1:7000}
listeners:
  - transport: tcp
    listen: 127.0.0.1:1
  - transport: utsl
    listen: 127.0.0.1:2
`, `gateway.yaml:6: listeners[1].transport: unknown transport "utsl" (known: tcp, utls)`},
		{"misspelt top-level field", "listners: []\n" + minimalGateway, `gateway.yaml:1: listners: unknown field (did you mean listeners?)`},
		{"unknown listener field", strings.Replace(minimalGateway, "listen:", "lisen: 1, listen:", 1),
			`gateway.yaml:3: listeners[0].lisen: unknown field (did you mean listen?)`},
		{"unrelated unknown field lists the known", minimalGateway + "colour: blue\n",
			`gateway.yaml:5: colour: unknown field (known: acme, admin, decoy, fleet, identity, limits, listeners, log, probe, pt_programs, secrets, services, state_dir)`},
		{"field given twice", minimalGateway + "services: {push: 127.0.0.1:7001}\n", `gateway.yaml:5: services: given twice`},
		{"a service named as the built-in probe", strings.Replace(minimalGateway, "mls:", "probe:", 1),
			`gateway.yaml:4: services.probe: "probe" is the gateway's built-in echo service for umbrella probe (see probe:); name yours otherwise`},
		{"a probe rate too low to probe with", minimalGateway + "probe: {session_rate: 1000}\n",
			`gateway.yaml:5: probe.session_rate: want 0 (the default) or at least 16384 bytes a second, got 1000`},
		{"probe enabled not a boolean", minimalGateway + "probe: {enabled: yes please}\n",
			`gateway.yaml:5: probe.enabled: want true or false, got "yes please"`},
		{"listen without port", strings.Replace(minimalGateway, "127.0.0.1:8443", "127.0.0.1", 1),
			`gateway.yaml:3: listeners[0].listen: missing port`},
		{"listener without transport", strings.Replace(minimalGateway, "transport: tcp, ", "", 1),
			`gateway.yaml:3: listeners[0].transport: required: a transport name`},
		{"wildcard listen needs public", strings.Replace(minimalGateway, "127.0.0.1:8443", "0.0.0.0:8443", 1),
			`gateway.yaml:3: listeners[0].public: required: the address clients dial, since listen "0.0.0.0:8443" does not say which of this machine's addresses that is`},
		{"port-only listen needs public", strings.Replace(minimalGateway, "127.0.0.1:8443", "\":8443\"", 1),
			`gateway.yaml:3: listeners[0].public: required: the address clients dial, since listen ":8443" does not say which of this machine's addresses that is`},
		{"public without brackets", strings.Replace(minimalGateway, "listen:", "public: 2001:db8::1:443, listen:", 1),
			`gateway.yaml:3: listeners[0].public: IPv6 addresses need brackets, as in [::1]:443`},
		{"args value with a control character", `state_dir: /s
services: {mls: 127.0.0.1:7000}
listeners:
  - transport: tcp
    listen: 127.0.0.1:1
    args:
      cert: "/etc/my certs/tls.pem"
      servername: "a\tb"
`, `gateway.yaml:8: listeners[0].args.servername: value has control characters`},
		{"args not a mapping", strings.Replace(minimalGateway, "listen:", "args: [a], listen:", 1),
			`gateway.yaml:3: listeners[0].args: want a mapping (key: value), got a list`},
		{"no listeners", "state_dir: /s\nservices: {mls: 127.0.0.1:7000}\n",
			`gateway.yaml:1: listeners: required: at least one listener`},
		{"empty listeners", "state_dir: /s\nservices: {mls: 127.0.0.1:7000}\nlisteners: []\n",
			`gateway.yaml:3: listeners: required: at least one listener`},
		{"empty listener", "state_dir: /s\nservices: {mls: 127.0.0.1:7000}\nlisteners:\n  -\n",
			`gateway.yaml:4: listeners[0]: required: an empty listener (want transport: and listen:)`},
		{"listeners not a list", "state_dir: /s\nservices: {mls: 127.0.0.1:7000}\nlisteners: tcp\n",
			`gateway.yaml:3: listeners: want a list, got a value`},
		{"empty services", strings.Replace(minimalGateway, "{mls: 127.0.0.1:7000}", "{}", 1),
			`gateway.yaml:4: services: required: at least one service, such as mls: 127.0.0.1:7000`},
		{"uppercase service name", strings.Replace(minimalGateway, "mls:", "MLS:", 1),
			`gateway.yaml:4: services.MLS: service names are lowercase letters, digits and '-'`},
		{"service without host", strings.Replace(minimalGateway, "127.0.0.1:7000", "\":7000\"", 1),
			`gateway.yaml:4: services.mls: missing host`},
		{"service port zero", strings.Replace(minimalGateway, "127.0.0.1:7000", "127.0.0.1:0", 1),
			`gateway.yaml:4: services.mls: port "0": want a number in 1..65535`},
		{"no state_dir", strings.Replace(minimalGateway, "state_dir: /var/lib/umbrella\n", "", 1),
			`gateway.yaml:1: state_dir: required: the directory for identity.key and secret files, such as /var/lib/umbrella`},
		{"state_dir of another user", strings.Replace(minimalGateway, "/var/lib/umbrella", "~umbrella/state", 1),
			`gateway.yaml:1: state_dir: only "~/" is expanded, not "~user/"`},
		{"rotation without a switch time", minimalGateway + "identity: {next: next.key}\n",
			`gateway.yaml:5: identity.switch_at: required: when next becomes the identity key, such as 2027-01-10T00:00:00Z`},
		{"switch time without a next key", minimalGateway + "identity: {switch_at: 2027-01-10T00:00:00Z}\n",
			`gateway.yaml:5: identity.next: required: the file of the key that replaces key at switch_at`},
		{"switch time not RFC 3339", minimalGateway + "identity: {next: next.key, switch_at: 10 January}\n",
			`gateway.yaml:5: identity.switch_at: want a time such as 2027-01-10T00:00:00Z (RFC 3339), got "10 January"`},
		{"next key is the key", minimalGateway + "identity:\n  key: a.key\n  next: ./a.key\n  switch_at: 2027-01-10T00:00:00Z\n",
			`gateway.yaml:7: identity.next: ./a.key is the key file itself: a rotation needs another key`},
		{"unknown identity field", minimalGateway + "identity: {nxt: next.key}\n",
			`gateway.yaml:5: identity.nxt: unknown field (did you mean next?)`},
		{"duration without unit", minimalGateway + "limits: {handshake_timeout: 10}\n",
			`gateway.yaml:5: limits.handshake_timeout: want a duration with a unit, such as 10s or 1m30s, got "10"`},
		{"negative duration", minimalGateway + "limits: {handshake_timeout: -1s}\n",
			`gateway.yaml:5: limits.handshake_timeout: want 0s (the default) or more, got -1s`},
		{"first bytes timeout below the floor", minimalGateway + "limits: {first_bytes_timeout: 100ms}\n",
			`gateway.yaml:5: limits.first_bytes_timeout: want 0s (the default) or at least 1s, the floor for slow links, got 100ms`},
		{"negative max_sessions", minimalGateway + "limits:\n  max_sessions: -5\n",
			`gateway.yaml:6: limits.max_sessions: want 0 (the default) or more, got -5`},
		{"max_streams not a number", minimalGateway + "limits:\n  max_streams: many\n",
			`gateway.yaml:6: limits.max_streams: want an integer, got "many"`},
		{"negative resume_grace", minimalGateway + "limits:\n  resume_grace: -1m\n",
			`gateway.yaml:6: limits.resume_grace: want 0s (the default) or more, got -1m0s`},
		{"resume_buffer below a record", minimalGateway + "limits:\n  resume_buffer: 1000\n",
			`gateway.yaml:6: limits.resume_buffer: want 0 (the default) or at least 65536 bytes, got 1000`},
		{"memory_budget below a few sessions", minimalGateway + "limits:\n  memory_budget: 65536\n",
			`gateway.yaml:6: limits.memory_budget: want 0 (from this machine's memory) or at least 1048576 bytes, got 65536`},
		{"negative stream_open_rate", minimalGateway + "limits:\n  stream_open_rate: -1\n",
			`gateway.yaml:6: limits.stream_open_rate: want 0 (the default) or more, got -1`},
		{"unknown log level", minimalGateway + "log: {level: verbose}\n",
			`gateway.yaml:5: log.level: want debug, info, warn or error, got "verbose"`},
		{"yes is not a boolean", minimalGateway + "log: {client_ips: yes}\n",
			`gateway.yaml:5: log.client_ips: want true or false, got "yes"`},
		{"decoy dir and proxy", minimalGateway + "decoy:\n  dir: /srv/www\n  proxy: https://example.org\n",
			`gateway.yaml:6: decoy: dir and proxy both set: the decoy is either files or another site`},
		{"decoy proxy not http", minimalGateway + "decoy: {proxy: ftp://example.org}\n",
			`gateway.yaml:5: decoy.proxy: want an http:// or https:// URL`},
		{"admin without port", minimalGateway + "admin: 127.0.0.1\n", `gateway.yaml:5: admin: missing port`},
		{"admin on a public address", minimalGateway + "admin: 0.0.0.0:9090\n",
			`gateway.yaml:5: admin: must be a loopback address (127.0.0.1:PORT or [::1]:PORT): metrics show that this host is a bridge`},
		{"short inline secret", minimalGateway + "secrets:\n  - secret.key\n  - " + bridge.EncodeKey(make([]byte, 31)) + "\n",
			`gateway.yaml:7: secrets[1]: inline secret: want 32 bytes of base64url, got 31`},
		{"mangled inline secret", minimalGateway + "secrets: [" + secretB64[:42] + "B]\n",
			`gateway.yaml:5: secrets[0]: inline secret: want 32 bytes of base64url: illegal base64 data at input byte 42`},
		{"same secret twice", minimalGateway + "secrets: [" + secretB64 + ", " + secretB64 + "]\n",
			`gateway.yaml:5: secrets[1]: same secret as secrets[0]`},
		{"empty secret entry", minimalGateway + "secrets: [\"\"]\n",
			`gateway.yaml:5: secrets[0]: required: an inline base64url secret or a file name`},
		{"alias", "state_dir: &d /s\nadmin: *d\nlisteners: [{transport: tcp, listen: 127.0.0.1:1}]\nservices: {mls: 127.0.0.1:7000}\n",
			`gateway.yaml:2: admin: YAML aliases (*d) are not supported: write the value out`},
		{"merge key", minimalGateway + "limits:\n  <<: {max_streams: 1}\n",
			`gateway.yaml:6: limits: keys must be plain values (no merge keys or complex keys)`},
		{"YAML syntax error", minimalGateway + "admin: [\n", `gateway.yaml:5: did not find expected node content`},
		{"two documents", minimalGateway + "---\nadmin: 127.0.0.1:9090\n",
			`gateway.yaml:5: a second YAML document (---): a config file holds one`},
		{"top level is a list", "- a\n", `gateway.yaml:1: want a mapping (key: value), got a list`},
		{"acme without domains", acmeGateway + "acme: {email: ops@example.com}\n",
			`gateway.yaml:5: acme.domains: required: the servername= of the TLS listeners that get certificates`},
		{"acme domain an IP", acmeGateway + "acme: {domains: [203.0.113.5]}\n",
			`gateway.yaml:5: acme.domains[0]: want a DNS name such as www.example.com, got "203.0.113.5"`},
		{"acme domain no listener serves", acmeGateway + "acme:\n  domains: [www.example.com, cdn.example.net]\n",
			`gateway.yaml:6: acme.domains[1]: cdn.example.net is the servername= of no TLS listener without cert=`},
		{"acme directory not https", acmeGateway + "acme: {domains: [www.example.com], directory: http://127.0.0.1:14000/dir}\n",
			`gateway.yaml:5: acme.directory: want the CA's https:// directory URL, got "http://127.0.0.1:14000/dir"`},
		{"acme email without @", acmeGateway + "acme: {domains: [www.example.com], email: ops}\n",
			`gateway.yaml:5: acme.email: want an address such as ops@example.com, got "ops"`},
		{"acme http without port", acmeGateway + "acme: {domains: [www.example.com], http: 0.0.0.0}\n",
			`gateway.yaml:5: acme.http: missing port`},
		{"fleet without redis", minimalGateway + "fleet: {edge: a, link: 10.0.0.5:7443}\n",
			`gateway.yaml:5: fleet.redis.addr: required: the fleet's Redis, host:port`},
		{"fleet edge name with a space", minimalGateway + "fleet: {edge: edge a, link: 10.0.0.5:7443, redis: {addr: 10.0.0.9:6379}}\n",
			`gateway.yaml:5: fleet.edge: edge name "edge a": want 1 to 64 letters, digits, '.', '_' or '-'`},
		{"fleet link on a wildcard", minimalGateway + "fleet: {edge: a, link: 0.0.0.0:7443, redis: {addr: 10.0.0.9:6379}}\n",
			`gateway.yaml:5: fleet.link_public: required: the address other edges dial, since link "0.0.0.0:7443" is a wildcard`},
		{"fleet redis without port", minimalGateway + "fleet: {edge: a, link: 10.0.0.5:7443, redis: {addr: 10.0.0.9}}\n",
			`gateway.yaml:5: fleet.redis.addr: want host:port: address 10.0.0.9: missing port in address`},
		{"fleet redis client certificate without key", minimalGateway + "fleet:\n  edge: a\n  link: 10.0.0.5:7443\n  redis: {addr: r:6379, tls: {cert_file: c.pem}}\n",
			`gateway.yaml:8: fleet.redis.tls: cert_file and key_file go together: a client certificate needs its key`},
		{"fleet revoked link key not a key", minimalGateway + "fleet: {edge: a, link: 10.0.0.5:7443, redis: {addr: r:6379}, revoked_link_keys: [edge-b]}\n",
			`gateway.yaml:5: fleet.revoked_link_keys[0]: want an edge's public link key, as it logs it (link_key=): want 32 bytes of base64url: illegal base64 data at input byte 4`},
		{"fleet wait negative", minimalGateway + "fleet: {edge: a, link: 10.0.0.5:7443, redis: {addr: r:6379}, wait: -1s}\n",
			`gateway.yaml:5: fleet.wait: want 0s (the default) or more, got -1s`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := ParseGateway("gateway.yaml", []byte(tt.yaml), known)
			if g != nil {
				t.Errorf("ParseGateway returned a config with its error")
			}
			wantFieldError(t, err, tt.want)
		})
	}
}

func TestParseGatewayReportsEveryProblemInLineOrder(t *testing.T) {
	data := "state_dir: /s\nlisteners:\n  - {transport: utsl, listen: x}\nservices: {Mls: 1}\n"
	_, err := ParseGateway("g.yaml", []byte(data), known)
	fes := fieldErrors(t, err)
	var got []string
	for _, fe := range fes {
		got = append(got, fe.Field)
	}
	want := []string{"listeners[0].transport", "listeners[0].listen", "services.Mls"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("fields with errors = %q, want %q (all of them, in line order)\n%v", got, want, err)
	}
}

func TestParseGatewayTypoIsNotAlsoReportedMissing(t *testing.T) {
	data := "state_dir: /s\nlistners: [{transport: tcp, listen: 127.0.0.1:1}]\nservices: {mls: 127.0.0.1:7000}\n"
	_, err := ParseGateway("g.yaml", []byte(data), known)
	if fes := fieldErrors(t, err); len(fes) != 1 || fes[0].Field != "listners" {
		t.Fatalf("want only the typo reported, got:\n%v", err)
	}
}

func TestParseGatewayUnknownTransportIsErrUnknownTransport(t *testing.T) {
	_, err := ParseGateway("g.yaml", []byte(strings.Replace(minimalGateway, "tcp", "quic", 1)), known)
	if !errors.Is(err, transports.ErrUnknownTransport) {
		t.Fatalf("error %v does not wrap transports.ErrUnknownTransport", err)
	}
	if _, err := ParseGateway("g.yaml", []byte(strings.Replace(minimalGateway, "tcp", "quic", 1)), nil); err != nil {
		t.Fatalf("with no list of known transports, any name is accepted; got %v", err)
	}
}

func TestParseGatewayTyposAreErrUnknownField(t *testing.T) {
	_, err := ParseGateway("g.yaml", []byte(minimalGateway+"limit: {}\n"), known)
	if !errors.Is(err, ErrUnknownField) {
		t.Fatalf("error %v does not wrap ErrUnknownField", err)
	}
}

func TestParseGatewayFillsDefaults(t *testing.T) {
	g, err := ParseGateway("gateway.yaml", []byte(minimalGateway), known)
	if err != nil {
		t.Fatal(err)
	}
	want := Limits{HandshakeTimeout: 10 * time.Second, MaxSessions: 10000, MaxStreams: 256, ResumeGrace: 2 * time.Minute, ResumeBuffer: 4 << 20,
		StreamOpenBurst: 64, StreamOpenRate: 16, MaxHandshakes: 1024, FirstBytesTimeout: 2 * time.Second, MaxHeld: 4096}
	if g.Limits != want {
		t.Errorf("Limits = %+v, want %+v", g.Limits, want)
	}
	if g.Log != (Log{Level: "info"}) {
		t.Errorf("Log = %+v, want level info, no client IPs", g.Log)
	}
	if g.Admin != "" || g.Decoy != (Decoy{}) || g.Secrets != nil || g.Listeners[0].Public != "" {
		t.Errorf("absent optional fields were filled: %+v", g)
	}
}

func TestLoadGatewayExample(t *testing.T) {
	g, err := LoadGateway(filepath.Join("testdata", "gateway.yaml"), known)
	if err != nil {
		t.Fatal(err)
	}
	want := &Gateway{
		StateDir: "/var/lib/umbrella",
		Secrets:  []string{"secret.key"},
		Listeners: []Listener{
			{Transport: "utls", Listen: "0.0.0.0:443", Public: "203.0.113.5:443", Args: transports.Args{"servername": "www.example.com"}},
			{Transport: "tcp", Listen: "[::]:8443", Public: "[2001:db8::5]:8443"},
		},
		Services: map[string]string{"mls": "127.0.0.1:7000", "push": "127.0.0.1:7001"},
		Probe:    Probe{Enabled: new(true), SessionRate: 1 << 20, Rate: 8 << 20},
		Decoy:    Decoy{Dir: "/srv/www"},
		Admin:    "127.0.0.1:9090",
		Limits: Limits{HandshakeTimeout: 10 * time.Second, MaxSessions: 10000, MaxStreams: 256, ResumeGrace: 2 * time.Minute, ResumeBuffer: 4 << 20,
			StreamOpenBurst: 64, StreamOpenRate: 16, MaxHandshakes: 1024, FirstBytesTimeout: 2 * time.Second, MaxHeld: 4096},
		Log:  Log{Level: "info"},
		ACME: ACME{Domains: []string{"www.example.com"}, Email: "ops@example.com"},
		Fleet: &Fleet{Edge: "edge-a", Link: "10.0.0.5:7443", Wait: 500 * time.Millisecond, Lease: 10 * time.Minute,
			Redis: FleetRedis{Addr: "10.0.0.9:6379", Username: "umbrella", PasswordFile: "redis.password", Prefix: "umbrella:",
				TLS: &FleetTLS{CAFile: filepath.Join("testdata", "redis-ca.pem"), ServerName: "redis.internal"}},
			RevokedLinkKeys: []LinkKey{bytes.Repeat([]byte{0x11}, ed25519.PublicKeySize)}},
	}
	g.Source = Source{}
	if !reflect.DeepEqual(g, want) {
		t.Fatalf("testdata/gateway.yaml parsed as\n%+v\nwant\n%+v", g, want)
	}
}

func TestParseGatewayResolvesPaths(t *testing.T) {
	home, err := os.UserHomeDir()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ file, stateDir, want string }{
		{"/etc/umbrella/gateway.yaml", "state", "/etc/umbrella/state"},
		{"/etc/umbrella/gateway.yaml", "/var/lib/umbrella", "/var/lib/umbrella"},
		{"gateway.yaml", "./state", "state"},
		{"/etc/umbrella/gateway.yaml", "~/umbrella", filepath.Join(home, "umbrella")},
		{"/etc/umbrella/gateway.yaml", `"~"`, home},
	}
	for _, tt := range tests {
		data := strings.Replace(minimalGateway, "/var/lib/umbrella", tt.stateDir, 1)
		g, err := ParseGateway(tt.file, []byte(data), known)
		if err != nil {
			t.Fatal(err)
		}
		if g.StateDir != tt.want {
			t.Errorf("state_dir %q in %s = %q, want %q", tt.stateDir, tt.file, g.StateDir, tt.want)
		}
	}
}

func TestSourceWrapNamesLinesFoundAfterParsing(t *testing.T) {
	g, err := LoadGateway(filepath.Join("testdata", "gateway.yaml"), known)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ field, want string }{
		{"listeners[1].listen", "testdata/gateway.yaml:24: listeners[1].listen: bind: address in use"},
		// An argument the file does not have is placed at its nearest enclosing field.
		{"listeners[0].args.cert", "testdata/gateway.yaml:22: listeners[0].args.cert: bind: address in use"},
		{"nowhere", "testdata/gateway.yaml: nowhere: bind: address in use"},
	}
	for _, tt := range tests {
		err := g.Source.Wrap(tt.field, errors.New("bind: address in use"))
		if err.Error() != tt.want {
			t.Errorf("Wrap(%q) = %q, want %q", tt.field, err, tt.want)
		}
	}
	if g.Source.Wrap("admin", nil) != nil {
		t.Errorf("Wrap of a nil error is not nil")
	}
}

// The benchmark writes gateway configs with yaml.Marshal; what it writes must parse
// back to the same config.
func TestMarshalledGatewayParsesBack(t *testing.T) {
	g := Gateway{
		StateDir:  "/tmp/state",
		Listeners: []Listener{{Transport: "tcp", Listen: "127.0.0.1:0"}},
		Services:  map[string]string{"echo": "127.0.0.1:7000"},
		Admin:     "127.0.0.1:9091",
		Limits:    Limits{HandshakeTimeout: 3 * time.Second, MaxSessions: 7},
		Probe:     Probe{Enabled: new(false), Rate: 1 << 20},
		Log:       Log{Level: "warn"},
	}
	data, err := yaml.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseGateway("bench.yaml", data, known)
	if err != nil {
		t.Fatalf("marshalled config does not parse: %v\n%s", err, data)
	}
	g.Limits.MaxStreams = session.DefaultMaxStreams
	g.Limits.ResumeGrace, g.Limits.ResumeBuffer = session.DefaultResumeGrace, session.DefaultResumeBuffer
	g.Limits.StreamOpenBurst, g.Limits.StreamOpenRate = session.DefaultStreamOpenBurst, session.DefaultStreamOpenRate
	g.Limits.MaxHandshakes, g.Limits.FirstBytesTimeout, g.Limits.MaxHeld = limits.DefaultMaxHandshakes, limits.DefaultFirstBytesTimeout, limits.DefaultMaxHeld
	g.Probe.SessionRate = limits.DefaultProbeSessionRate
	back.Source = Source{}
	if !reflect.DeepEqual(*back, g) {
		t.Fatalf("parsed back as\n%+v\nwant\n%+v", *back, g)
	}
}
