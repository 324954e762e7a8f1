package tlskit

import (
	"context"
	"testing"
	"time"
)

const testServerName = "www.example.com"

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
