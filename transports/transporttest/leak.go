package transporttest

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
	"time"
)

// checkLeaks fails t if goroutines started during t are still running once t and its
// cleanups are done. Goroutines may take a moment to notice a closed conn, so it polls
// until hangTimeout before reporting the stacks of those left.
func checkLeaks(t *testing.T) {
	before := goroutines()
	t.Cleanup(func() {
		deadline := time.Now().Add(hangTimeout)
		for {
			leaked := newGoroutines(before, goroutines())
			if len(leaked) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("goroutines started by this subtest still run after it ended (%d):\n\n%s",
					len(leaked), strings.Join(leaked, "\n\n"))
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// goroutines maps each running goroutine's header ("goroutine 7 [") to its stack.
func goroutines() map[string]string {
	buf := make([]byte, 1<<16)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	m := make(map[string]string)
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		stack := string(bytes.TrimSpace(g))
		id, _, ok := strings.Cut(stack, "[")
		if ok && strings.HasPrefix(id, "goroutine ") {
			m[id] = stack
		}
	}
	return m
}

func newGoroutines(before, now map[string]string) []string {
	var leaked []string
	for id, stack := range now {
		if _, ok := before[id]; !ok {
			leaked = append(leaked, stack)
		}
	}
	return leaked
}
