//go:build !linux

package frontier

import "syscall"

// childAttr puts a run in its own process group.
func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
