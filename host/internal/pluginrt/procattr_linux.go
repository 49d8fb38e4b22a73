package pluginrt

import (
	"os/exec"
	"syscall"
)

// dieWithHost makes the kernel kill the plugin process when the host dies,
// even by SIGKILL, so no orphaned plugin outlives a crashed run.
func dieWithHost(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
