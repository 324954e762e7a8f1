package pt

import (
	"maps"
	"strings"
	"testing"

	"github.com/umbrella-edge/edge/transports"
)

func TestParseLine(t *testing.T) {
	tests := []struct {
		line string
		want message
	}{
		{"VERSION 1", message{keyword: "VERSION", text: "1"}},
		{"VERSION-ERROR no-version", message{keyword: "VERSION-ERROR", text: "no-version"}},
		{"ENV-ERROR No TOR_PT_ORPORT environment variable", message{keyword: "ENV-ERROR", text: "No TOR_PT_ORPORT environment variable"}},
		{"CMETHOD obfs4 socks5 127.0.0.1:43521", message{keyword: "CMETHOD", method: "obfs4", socks: "socks5", addr: "127.0.0.1:43521"}},
		{"CMETHOD meek_lite socks5 [::1]:80 ARGS:url=x", message{keyword: "CMETHOD", method: "meek_lite", socks: "socks5", addr: "[::1]:80"}},
		{"CMETHOD-ERROR snowflake could not reach the broker", message{keyword: "CMETHOD-ERROR", method: "snowflake", text: "could not reach the broker"}},
		{"CMETHODS DONE", message{keyword: "CMETHODS", text: "DONE"}},
		{"SMETHOD obfs4 0.0.0.0:443", message{keyword: "SMETHOD", method: "obfs4", addr: "0.0.0.0:443", args: transports.Args{}}},
		{"SMETHOD obfs4 127.0.0.1:9001 ARGS:cert=AbC+/9,iat-mode=0",
			message{keyword: "SMETHOD", method: "obfs4", addr: "127.0.0.1:9001", args: transports.Args{"cert": "AbC+/9", "iat-mode": "0"}}},
		{`SMETHOD x 127.0.0.1:1 ARGS:a\=b=c\,d,e=\\`,
			message{keyword: "SMETHOD", method: "x", addr: "127.0.0.1:1", args: transports.Args{"a=b": "c,d", "e": `\`}}},
		{"SMETHOD x 127.0.0.1:1 ARGS:", message{keyword: "SMETHOD", method: "x", addr: "127.0.0.1:1", args: transports.Args{}}},
		{"SMETHOD x 127.0.0.1:1 ARGS:k= OTHER:y", message{keyword: "SMETHOD", method: "x", addr: "127.0.0.1:1", args: transports.Args{"k": ""}}},
		{"SMETHOD-ERROR obfs4 bind: address already in use", message{keyword: "SMETHOD-ERROR", method: "obfs4", text: "bind: address already in use"}},
		{"SMETHODS DONE", message{keyword: "SMETHODS", text: "DONE"}},
		{`LOG SEVERITY=notice MESSAGE="hello"`, message{keyword: "LOG", text: `SEVERITY=notice MESSAGE="hello"`}},
		{"STATUS TYPE=version IMPLEMENTATION=x", message{keyword: "STATUS", text: "TYPE=version IMPLEMENTATION=x"}},
		{"SOMETHING-NEW whatever it says", message{keyword: "SOMETHING-NEW"}},
	}
	for _, tt := range tests {
		got, err := parseLine(tt.line)
		if err != nil {
			t.Errorf("parseLine(%q): %v", tt.line, err)
			continue
		}
		if !sameMessage(got, tt.want) {
			t.Errorf("parseLine(%q) = %+v, want %+v", tt.line, got, tt.want)
		}
	}
}

func TestParseLineRejectsMalformedLines(t *testing.T) {
	for _, line := range []string{
		"",
		" VERSION 1",
		"CMETHOD obfs4 socks5",
		"CMETHOD obfs4 socks5 localhost:1080", // managed proxies report IP addresses
		"CMETHOD obfs4 socks5 127.0.0.1:0",
		"CMETHOD 4bad socks5 127.0.0.1:1",
		"SMETHOD obfs4",
		"SMETHOD ob/fs4 127.0.0.1:1",
		"SMETHOD obfs4 127.0.0.1:99999",
		"SMETHOD obfs4 127.0.0.1:1 ARGS:novalue",
		"SMETHOD obfs4 127.0.0.1:1 ARGS:=v",
		`SMETHOD obfs4 127.0.0.1:1 ARGS:k=v\`,
		"SMETHOD obfs4 127.0.0.1:1 ARGS:k=v,",
		"SMETHOD obfs4 127.0.0.1:1 ARGS:k=v,k=w",
		"CMETHOD-ERROR",
		"SMETHOD " + strings.Repeat("x", maxLine),
	} {
		if m, err := parseLine(line); err == nil {
			t.Errorf("parseLine(%q) = %+v, want an error", shorten(line), m)
		}
	}
}

func TestServerOptionsEscapeAsTorDoes(t *testing.T) {
	got := serverOptions("obfs4", transports.Args{"iat-mode": "1", "weird": `a:b;c=d\e`})
	want := `obfs4:iat-mode=1;obfs4:weird=a\:b\;c\=d\\e`
	if got != want {
		t.Errorf("serverOptions = %s, want %s", got, want)
	}
}

// FuzzParseLine feeds arbitrary lines to the parser: it must not panic, and the ARGS of
// an SMETHOD line it accepts must survive being encoded again as pt-spec says.
func FuzzParseLine(f *testing.F) {
	for _, s := range []string{
		"VERSION 1", "CMETHOD obfs4 socks5 127.0.0.1:43521", "CMETHODS DONE",
		"SMETHOD obfs4 127.0.0.1:9001 ARGS:cert=AbC+/9,iat-mode=0", `SMETHOD x 127.0.0.1:1 ARGS:a\=b=c\,d,e=\\`,
		"SMETHOD-ERROR obfs4 bind failed", `LOG SEVERITY=debug MESSAGE="x"`, "ENV-ERROR x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		m, err := parseLine(line)
		if err != nil || m.keyword != "SMETHOD" {
			return
		}
		var parts []string
		for _, k := range m.args.Keys() {
			parts = append(parts, escape(k, "=,")+"="+escape(m.args[k], "=,"))
		}
		again, err := parseSmethodArgs(strings.Join(parts, ","))
		if err != nil {
			t.Fatalf("ARGS %v encoded again: %v", m.args, err)
		}
		if !maps.Equal(again, m.args) {
			t.Fatalf("ARGS %v encoded and parsed again: %v", m.args, again)
		}
	})
}

func sameMessage(a, b message) bool {
	return a.keyword == b.keyword && a.method == b.method && a.socks == b.socks &&
		a.addr == b.addr && a.text == b.text && maps.Equal(a.args, b.args) && (a.args == nil) == (b.args == nil)
}
