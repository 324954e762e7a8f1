//go:build !linux

package transporttest

import "testing"

// stalledListener needs Linux's behaviour of dropping SYNs to a full accept queue;
// elsewhere the check cannot be set up.
func stalledListener(t *testing.T) string {
	t.Skip("a stalled TCP connect can only be arranged on Linux")
	return ""
}
