package devserver

import "syscall"

// sysProcAttr puts the server in a process group of its own, so that a Ctrl-C in the terminal
// reaches only its parent, which stops it after what depends on it (Stop); and has the kernel kill
// it should its parent die without stopping it (SIGKILL, a crash), so that no server outlives it.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
