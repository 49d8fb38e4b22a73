//go:build !linux

package pluginrt

import (
	"os"
	"os/exec"
)

// dieWithHost is a no-op where the kernel has no parent-death signal; the
// runtime still kills its plugins on Close and on context cancellation.
func dieWithHost(cmd *exec.Cmd) {}

// killGroup kills the plugin process pid.
func killGroup(pid int) {
	if p, err := os.FindProcess(pid); err == nil {
		p.Kill()
	}
}
