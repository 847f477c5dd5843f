//go:build !linux

package devserver

import "syscall"

// sysProcAttr is the default elsewhere: a Ctrl-C in the terminal reaches the server too.
func sysProcAttr() *syscall.SysProcAttr { return nil }
