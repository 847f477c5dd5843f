package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// child is a process the harness started (the worker, the API). It runs
// in its own process group so that stopping it also stops anything it spawned, and with
// Pdeathsig so that the kernel kills it should the harness itself be killed with SIGKILL, when no
// deferred cleanup can run.
type child struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	log     *os.File

	done    chan struct{} // closed when the process has exited and been reaped
	waitErr error         // valid once done is closed

	mu       sync.Mutex
	stopping bool // set by stop: an exit after it is expected
}

// startChild starts bin with args and exactly env (nothing inherited beyond it), its stdout and
// stderr appended to logPath.
func startChild(name, bin string, args, env []string, logPath string) (*child, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%s: log file: %w", name, err)
	}
	// Not exec.CommandContext: cancellation must go through stop, which signals the whole group
	// and gives the process a chance to exit cleanly before SIGKILL.
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s (%s): %w", name, bin, err)
	}
	c := &child{name: name, cmd: cmd, logPath: logPath, log: logf, done: make(chan struct{})}
	go func() {
		c.waitErr = cmd.Wait()
		logf.Close()
		close(c.done)
	}()
	return c, nil
}

// exited is closed once the process has exited and been reaped.
func (c *child) exited() <-chan struct{} { return c.done }

// pid is the process id (also its process group id).
func (c *child) pid() int { return c.cmd.Process.Pid }

// exitedUnexpectedly reports, once the process ended without stop being called, why; nil while
// it runs or when it was stopped on purpose.
func (c *child) exitedUnexpectedly() error {
	select {
	case <-c.done:
	default:
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopping {
		return nil
	}
	return fmt.Errorf("%s exited unexpectedly (%v); last lines of %s:\n%s", c.name, c.waitErr, c.logPath, tail(c.logPath, 20))
}

// stop sends SIGTERM to the child's process group, waits up to grace for it to exit, then sends
// SIGKILL. It returns once the process is reaped, and is safe to call more than once.
func (c *child) stop(grace time.Duration) {
	c.mu.Lock()
	c.stopping = true
	c.mu.Unlock()
	select {
	case <-c.done:
		return
	default:
	}
	_ = syscall.Kill(-c.pid(), syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-c.done:
	case <-t.C:
		_ = syscall.Kill(-c.pid(), syscall.SIGKILL)
		<-c.done
	}
	// A grandchild that ignored SIGTERM must not outlive the benchmark either.
	_ = syscall.Kill(-c.pid(), syscall.SIGKILL)
}

// process is what the harness stops and watches: a child, or the Temporal dev server (see
// temporalServer).
type process interface {
	// stop ends the process, gracefully within grace where it can; safe to call more than once.
	stop(grace time.Duration)
	// exited is closed once the process has exited.
	exited() <-chan struct{}
	// exitedUnexpectedly says why the process ended without stop, nil otherwise.
	exitedUnexpectedly() error
}

// children is the set of processes started by the harness, stopped in reverse start order.
type children struct {
	mu   sync.Mutex
	list []process
}

func (cs *children) add(c process) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.list = append(cs.list, c)
}

// stopAll stops every child, the last started first (the API and the worker before Temporal, so
// they do not log a storm of connection errors while it goes away).
func (cs *children) stopAll(grace time.Duration) {
	cs.mu.Lock()
	list := append([]process(nil), cs.list...)
	cs.mu.Unlock()
	for i := len(list) - 1; i >= 0; i-- {
		list[i].stop(grace)
	}
}

// firstUnexpectedExit returns the reason of the first child that died on its own, if any.
func (cs *children) firstUnexpectedExit() error {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for _, c := range cs.list {
		if err := c.exitedUnexpectedly(); err != nil {
			return err
		}
	}
	return nil
}

// watch cancels ctx (through cancel) as soon as any child exits without being stopped, so that
// a crashed worker fails the run at once with its log instead of a timeout later.
func (cs *children) watch(ctx context.Context, c process, cancel context.CancelCauseFunc) {
	go func() {
		select {
		case <-ctx.Done():
		case <-c.exited():
			if err := c.exitedUnexpectedly(); err != nil {
				cancel(err)
			}
		}
	}()
}

// tail returns the last n lines of the file at path (for error messages).
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "  (" + err.Error() + ")"
	}
	return lastLines(b, n)
}

// lastLines returns the last n lines of b, indented, without a trailing newline.
func lastLines(b []byte, n int) string {
	b = bytes.TrimRight(b, "\n")
	if len(b) == 0 {
		return "  (empty)"
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ")
}

// runQuiet runs a short command (go build, go version) and returns its stdout, or an error
// carrying its stderr.
func runQuiet(ctx context.Context, dir string, env []string, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = env
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if errors.Is(ctx.Err(), context.Canceled) {
			return "", ctx.Err()
		}
		return "", fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, msg)
	}
	return stdout.String(), nil
}
