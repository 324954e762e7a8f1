package config

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/umbrella-edge/edge/session"
)

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
			g.Limits.ResumeGrace <= 0 || g.Limits.ResumeBuffer < session.MinResumeBuffer ||
			g.Limits.StreamOpenBurst <= 0 || g.Limits.StreamOpenRate <= 0 || g.Limits.MemoryBudget < 0 {
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
