//go:build !linux

package childproc

import (
	"os"
	"syscall"
)

// sysProcAttr is the default elsewhere: a Ctrl-C in the terminal reaches the child too.
func sysProcAttr() *syscall.SysProcAttr { return nil }

// interrupt sends p SIGINT (an error where there is no such signal: Stop then kills it).
func interrupt(p *os.Process) error { return p.Signal(os.Interrupt) }

// kill kills p.
func kill(p *os.Process) error { return p.Kill() }
