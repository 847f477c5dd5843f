package childproc

import (
	"os"
	"syscall"
)

// sysProcAttr puts the process in a process group of its own, so that a Ctrl-C in the terminal
// reaches only its parent, which stops it after what depends on it (Stop), and so that Stop
// reaches whatever it started; and has the kernel kill it should its parent die without stopping
// it (SIGKILL, a crash), so that no child outlives its parent.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// interrupt sends SIGINT to p's process group.
func interrupt(p *os.Process) error { return syscall.Kill(-p.Pid, syscall.SIGINT) }

// kill sends SIGKILL to p's process group.
func kill(p *os.Process) error { return syscall.Kill(-p.Pid, syscall.SIGKILL) }
