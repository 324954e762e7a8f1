package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLinksNoGateway: the client binary's memory is mostly its own pages, and the
// gateway's packages brought Prometheus, protobuf and Redis with them (2 MB of text and
// data the client never runs, 2 MB of RSS measured by make bench). Configuration reads
// the gateway's defaults from gateway/limits, which links none of it.
func TestLinksNoGateway(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		switch {
		case dep == "github.com/umbrella-edge/edge/gateway",
			strings.HasPrefix(dep, "github.com/umbrella-edge/edge/gateway/") && dep != "github.com/umbrella-edge/edge/gateway/limits",
			strings.HasPrefix(dep, "github.com/prometheus/"),
			strings.HasPrefix(dep, "github.com/redis/"),
			strings.HasPrefix(dep, "google.golang.org/protobuf/"):
			t.Errorf("umbrella-client links %s", dep)
		}
	}
}
