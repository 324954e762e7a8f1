package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func FuzzParseBridge(f *testing.F) {
	for _, seed := range []string{
		"utls 203.0.113.5:443 " + sessionArgs + " fp=chrome servername=www.example.com",
		"Bridge tcp [2001:db8::1]:443 " + sessionArgs,
		"obfs4 192.0.2.1:80 " + sessionArgs + " cert=ab=cd iat-mode=0 x=",
		"tcp 1.2.3.4 " + sessionArgs,
		"tcp [fe80::1%eth0]:1 " + sessionArgs,
		"tcp 1.2.3.4:1 key=" + keyB64 + " secret=" + secretB64 + "=",
		"tcp 1.2.3.4:1 key=" + keyB64 + " secret=" + EncodeKey(make([]byte, 32)),
		"Bridge", "", "a b c=d",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, line string) {
		b, err := ParseBridge(line)
		if err != nil {
			var be *BridgeError
			if !errors.As(err, &be) {
				t.Fatalf("error %q is not a *BridgeError", err)
			}
			return
		}
		printed := b.String()
		again, err := ParseBridge(printed)
		if err != nil {
			t.Fatalf("String() = %q does not parse: %v", printed, err)
		}
		if !reflect.DeepEqual(again, b) {
			t.Fatalf("round trip through %q changed\n%#v\nto\n%#v", printed, b, again)
		}
		if again.String() != printed {
			t.Fatalf("String is not stable: %q then %q", printed, again.String())
		}
		if red := b.Redacted(); strings.Contains(red, EncodeKey(b.Secret[:])) {
			t.Fatalf("Redacted() = %q shows the secret", red)
		}
	})
}

// addConfigSeeds seeds a fuzz target with the example file and variations of it.
func addConfigSeeds(f *testing.F, example string, more ...string) {
	data, err := os.ReadFile(filepath.Join("testdata", example))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	for _, s := range more {
		f.Add([]byte(s))
	}
}

func FuzzParseGateway(f *testing.F) {
	addConfigSeeds(f, "gateway.yaml",
		minimalGateway,
		minimalGateway+"limits: {handshake_timeout: 10}\n",
		minimalGateway+"secrets: ["+secretB64+", a.key]\nstate_dir: x\n",
		"state_dir: &d /s\nadmin: *d\n",
		minimalGateway+"decoy: {dir: ~/www, proxy: http://x}\nlog: {level: debug, client_ips: true}\n",
		"- a\n", "", "a: [\n", "---\n---\n",
	)
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := ParseGateway("gateway.yaml", data, known)
		if err != nil {
			for _, fe := range fieldErrors(t, err) {
				if fe.File != "gateway.yaml" {
					t.Fatalf("error %q does not name the file", fe)
				}
			}
			return
		}
		if len(g.Listeners) == 0 || len(g.Services) == 0 || g.StateDir == "" || g.Log.Level == "" ||
			g.Limits.HandshakeTimeout <= 0 || g.Limits.MaxSessions <= 0 || g.Limits.MaxStreams <= 0 ||
			g.Limits.ResumeGrace <= 0 || g.Limits.ResumeBuffer < MinResumeBuffer {
			t.Fatalf("accepted an incomplete config: %+v", g)
		}
		// What the parser accepts, written back by yaml.Marshal, means the same.
		out, err := yaml.Marshal(g)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseGateway("gateway.yaml", out, known)
		if err != nil {
			t.Fatalf("marshalled config does not parse: %v\n%s", err, out)
		}
		back.Source, g.Source = Source{}, Source{}
		if !reflect.DeepEqual(back, g) {
			t.Fatalf("marshal and parse changed\n%+v\nto\n%+v", g, back)
		}
	})
}

func FuzzParseClient(f *testing.F) {
	addConfigSeeds(f, "client.yaml",
		"bridges: ["+bridgeLine+"]\n",
		"bridges:\n  - "+bridgeLine+"\n  - tcp 1.2.3.4 x\nsocks: 127.0.0.1:1\nhttp: 127.0.0.1:1\n",
		"bridges: ["+bridgeLine+"]\nforwards: {\"127.0.0.1:1\": mls}\nhosts: {a.b: c}\nstate_dir: ~/s\n",
		"bridges: [{a: b}]\n", "", "bridges: *x\n",
	)
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseClient("client.yaml", data)
		if err != nil {
			for _, fe := range fieldErrors(t, err) {
				if fe.File != "client.yaml" {
					t.Fatalf("error %q does not name the file", fe)
				}
			}
			return
		}
		if len(c.Bridges) == 0 || c.Log.Level == "" {
			t.Fatalf("accepted an incomplete config: %+v", c)
		}
		out, err := yaml.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseClient("client.yaml", out)
		if err != nil {
			t.Fatalf("marshalled config does not parse: %v\n%s", err, out)
		}
		back.Source, c.Source = Source{}, Source{}
		if !reflect.DeepEqual(back, c) {
			t.Fatalf("marshal and parse changed\n%+v\nto\n%+v", c, back)
		}
	})
}
