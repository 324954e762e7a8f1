package probes

import (
	"errors"
	"strings"
	"testing"

	"github.com/umbrella-edge/edge/bridge"
)

const sessionArgs = " key=" + testKey + " secret=" + testSecret

func TestReadLines(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string // transports read
		err      string
	}{
		{"lines as umbrella bridges prints them", "tcp 192.0.2.1:443" + sessionArgs + "\nobfs4 192.0.2.1:80" + sessionArgs + " cert=abc iat-mode=0\n", []string{"tcp", "obfs4"}, ""},
		{"a torrc's lines, comments and blanks", "# mine\n\nBridge utls 192.0.2.1:443" + sessionArgs + " servername=a.example\n  \n", []string{"utls"}, ""},
		{"a bad line is named by its number, not its content", "tcp 192.0.2.1:443" + sessionArgs + "\n\ntcp 192.0.2.1:443 key=" + testKey + " secret=" + testSecret[:20] + "\n", nil, "line 3: bridge line: secret=: want 32 bytes"},
		{"a share URI, which is not read yet", "umbrella://x" + testSecret + "\n", nil, "line 1: share URIs are not read yet"},
		{"nothing", "# only a comment\n", nil, "no bridge lines"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lines, err := ReadLines(strings.NewReader(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || strings.Contains(err.Error(), testSecret[:20]) {
					t.Fatalf("ReadLines: %v; want an error saying %q, without the line's values", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, b := range lines {
				got = append(got, b.Transport)
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("read %v; want %v", got, tc.want)
			}
		})
	}
}

// A bridges file may come from anywhere (a message, a web page): reading one never
// panics, and an error never repeats a line's content.
func FuzzReadLines(f *testing.F) {
	f.Add("tcp 192.0.2.1:443" + sessionArgs + "\n# c\nBridge utls [2001:db8::1]:443" + sessionArgs + " servername=a.example\n")
	f.Add("obfs4 192.0.2.1:80" + sessionArgs + " cert=abc iat-mode=0")
	f.Add("umbrella://abc\n")
	f.Add("\x00\n\r\n#\n" + strings.Repeat("x", 70000))
	f.Fuzz(func(t *testing.T, in string) {
		lines, err := ReadLines(strings.NewReader(in))
		if err != nil {
			var be *bridge.Error
			// The transport, the address and an argument's name are shown; values never.
			if errors.As(err, &be) && be.Value != "" && be.Field != "transport" && be.Field != "address" && be.Field != "argument" {
				t.Fatalf("error %q shows a value of %s", err, be.Field)
			}
			return
		}
		for _, b := range lines {
			if _, err := bridge.Parse(b.String()); err != nil {
				t.Fatalf("read a line that does not print back: %v", err)
			}
		}
	})
}
