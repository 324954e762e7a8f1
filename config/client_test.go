package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/transports"
)

var bridgeLine = "tcp 192.0.2.1:8443 " + sessionArgs

func TestParseClientErrorsNameFileLineAndField(t *testing.T) {
	short := bridge.EncodeKey(make([]byte, 31))
	tests := []struct {
		name, yaml, want string
	}{
		{"bad secret in third bridge", `bridges:
  - ` + bridgeLine + `
  - ` + bridgeLine + `
  - tcp 192.0.2.1:8443 key=` + keyB64 + ` secret=` + short + `
`, `client.yaml:4: bridges[2]: bridge line: secret=: want 32 bytes of base64url, got 31`},
		{"bridge without port", "bridges: [\"tcp 1.2.3.4 " + sessionArgs + "\"]\n",
			`client.yaml:1: bridges[0]: bridge line: address "1.2.3.4": missing port`},
		{"bridge as a mapping", "bridges:\n  - {tcp: 1.2.3.4}\n", `client.yaml:2: bridges[0]: want a single value, got a mapping`},
		{"no bridges", "socks: 127.0.0.1:1080\n", `client.yaml:1: bridges: required: at least one bridge line`},
		{"misspelt field", "bridges: [" + bridgeLine + "]\nsocks5: 127.0.0.1:1080\n",
			`client.yaml:2: socks5: unknown field (did you mean socks?)`},
		{"socks without port", "bridges: [" + bridgeLine + "]\nsocks: localhost\n", `client.yaml:2: socks: missing port`},
		{"forward to a bad service", "bridges: [" + bridgeLine + "]\nforwards:\n  \"127.0.0.1:7443\": MLS\n",
			`client.yaml:3: forwards["127.0.0.1:7443"]: service "MLS": want lowercase letters, digits and '-'`},
		{"forward without service", "bridges: [" + bridgeLine + "]\nforwards: {\"127.0.0.1:7443\": }\n",
			`client.yaml:2: forwards["127.0.0.1:7443"]: required: a service name`},
		{"forward from a bad address", "bridges: [" + bridgeLine + "]\nforwards: {7443: mls}\n",
			`client.yaml:2: forwards.7443: missing port`},
		{"host mapped to nothing", "bridges: [" + bridgeLine + "]\nhosts:\n  chat.example.org: \"\"\n",
			`client.yaml:3: hosts["chat.example.org"]: required: a service name`},
		{"relative PT program", "bridges: [" + bridgeLine + "]\npt_programs:\n  obfs4: lyrebird\n",
			`client.yaml:3: pt_programs.obfs4: want an absolute path to the program, such as /usr/bin/lyrebird`},
		{"unknown idle preset", "bridges: [" + bridgeLine + "]\nidle: sleepy\n",
			`client.yaml:2: idle: want foreground or background, got "sleepy"`},
		{"bad host name", "bridges: [" + bridgeLine + "]\nhosts: {\"a b\": mls}\n",
			`client.yaml:2: hosts["a b"]: want a host name such as chat.example.org`},
		{"two proxies on one port", "bridges: [" + bridgeLine + "]\nsocks: 127.0.0.1:1080\nhttp: 127.0.0.1:1080\n",
			`client.yaml:3: http: address 127.0.0.1:1080 is also socks`},
		{"forward on the socks port", "bridges: [" + bridgeLine + "]\nsocks: 127.0.0.1:1080\nforwards: {\"127.0.0.1:1080\": mls}\n",
			`client.yaml:3: forwards["127.0.0.1:1080"]: address 127.0.0.1:1080 is also socks`},
		{"unknown log field", "bridges: [" + bridgeLine + "]\nlog: {lvl: debug}\n",
			`client.yaml:2: log.lvl: unknown field (did you mean level?)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseClient("client.yaml", []byte(tt.yaml))
			if c != nil {
				t.Errorf("ParseClient returned a config with its error")
			}
			wantFieldError(t, err, tt.want)
		})
	}
}

func TestParseClientBridgeErrorIsABridgeError(t *testing.T) {
	_, err := ParseClient("c.yaml", []byte("bridges: [\"tcp 1.2.3.4:1 key="+keyB64+"\"]\n"))
	var be *bridge.Error
	if !errors.As(err, &be) || be.Field != "secret=" || !errors.Is(err, ErrMissing) {
		t.Fatalf("error %v: want a *bridge.Error for secret= wrapping ErrMissing", err)
	}
}

func TestLoadClientExample(t *testing.T) {
	c, err := LoadClient(filepath.Join("testdata", "client.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	home, err := os.UserHomeDir()
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(home, ".local/state/umbrella"); c.StateDir != want {
		t.Errorf("state_dir = %q, want %q", c.StateDir, want)
	}
	if len(c.Bridges) != 2 {
		t.Fatalf("got %d bridges, want 2", len(c.Bridges))
	}
	first := c.Bridges[0]
	if first.Transport != "utls" || first.Addr != "203.0.113.5:443" ||
		!reflect.DeepEqual(first.Args, transports.Args{"fp": "chrome", "servername": "www.example.com"}) {
		t.Errorf("bridges[0] = %s", first)
	}
	if second := c.Bridges[1]; second.Transport != "tcp" || second.Addr != "[2001:db8::5]:8443" {
		t.Errorf("bridges[1] (with a torrc Bridge word) = %s", second)
	}
	if c.SOCKS != "127.0.0.1:1080" || c.HTTP != "127.0.0.1:8080" {
		t.Errorf("socks, http = %q, %q", c.SOCKS, c.HTTP)
	}
	if !reflect.DeepEqual(c.Forwards, map[string]string{"127.0.0.1:7443": "mls"}) ||
		!reflect.DeepEqual(c.Hosts, map[string]string{"chat.example.org": "mls"}) {
		t.Errorf("forwards, hosts = %v, %v", c.Forwards, c.Hosts)
	}
	if c.Log.Level != "info" {
		t.Errorf("log level = %q", c.Log.Level)
	}
	if c.CAFile != "/etc/umbrella/private-ca.pem" {
		t.Errorf("ca_file = %q", c.CAFile)
	}
	if c.Idle != "background" {
		t.Errorf("idle = %q, want background", c.Idle)
	}
	if line := c.Source.Line("bridges[1]"); line != 11 {
		t.Errorf("bridges[1] is on line %d of the example, want 11", line)
	}
}

func TestCAFileIsRelativeToTheConfig(t *testing.T) {
	c, err := ParseClient(filepath.Join("etc", "client.yaml"), []byte("ca_file: ca.pem\nbridges: ["+bridgeLine+"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join("etc", "ca.pem"); c.CAFile != want {
		t.Fatalf("ca_file = %q, want %q", c.CAFile, want)
	}
}

func TestParseClientDefaults(t *testing.T) {
	c, err := ParseClient("client.yaml", []byte("bridges: ["+bridgeLine+"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Log.Level != "info" || c.StateDir != "" || c.SOCKS != "" || c.HTTP != "" || c.Forwards != nil || c.CAFile != "" {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestMarshalledClientParsesBack(t *testing.T) {
	c, err := LoadClient(filepath.Join("testdata", "client.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), c.Bridges[0].String()) {
		t.Fatalf("marshalled client does not list bridge lines:\n%s", data)
	}
	back, err := ParseClient("testdata/client.yaml", data)
	if err != nil {
		t.Fatalf("marshalled client does not parse: %v\n%s", err, data)
	}
	back.Source, c.Source = Source{}, Source{}
	if !reflect.DeepEqual(back, c) {
		t.Fatalf("parsed back as\n%+v\nwant\n%+v", back, c)
	}
}
