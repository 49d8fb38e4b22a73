package pluginrt

import (
	"os/exec"
	"syscall"
)

// dieWithHost makes the kernel kill the plugin process when the host dies,
// even by SIGKILL, so no orphaned plugin outlives a crashed run. The plugin
// gets its own process group: killGroup then reaches its children too (a
// shell-script plugin), and a terminal's Ctrl-C goes to the host alone,
// which stops its plugins itself.
func dieWithHost(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}

// killGroup sends SIGKILL to the plugin process pid and its process group.
func killGroup(pid int) {
	if pid <= 0 {
		return
	}
	syscall.Kill(-pid, syscall.SIGKILL)
	syscall.Kill(pid, syscall.SIGKILL)
}
