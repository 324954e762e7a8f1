package unboundtest

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes unbound end when the process that started it does, so a test
// binary killed by its timeout leaves no resolver behind.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
