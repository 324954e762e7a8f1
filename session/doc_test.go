package session

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestProtocolNamesFilesThatExist: docs/protocol.md names the files that implement
// it, and a file renamed or removed must not leave the specification pointing at
// nothing.
func TestProtocolNamesFilesThatExist(t *testing.T) {
	spec, err := os.ReadFile("../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	intro, _, _ := strings.Cut(string(spec), "\n## ")
	names := regexp.MustCompile("`([a-z_]+\\.go)`").FindAllStringSubmatch(intro, -1)
	if len(names) == 0 {
		t.Fatal("docs/protocol.md's introduction names no Go file")
	}
	for _, m := range names {
		if _, err := os.Stat(m[1]); err != nil {
			t.Errorf("docs/protocol.md names session/%s: %v", m[1], err)
		}
	}
}
