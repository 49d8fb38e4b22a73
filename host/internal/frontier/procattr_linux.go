package frontier

import "syscall"

// childAttr puts a run in its own process group (a terminal's Ctrl-C reaches
// the sweep, which stops its children in order) and has the kernel send it
// SIGTERM, which a host treats like Ctrl-C, should the sweep die.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
