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
	"time"

	"github.com/witboost-community/cde-spark-provisioner/internal/childproc"
)

// child is a process the harness started (the worker, the API), its output appended to a log
// file in the run's directory (see childproc for its process group and parent-death signal).
type child struct {
	proc *childproc.Process
	log  *os.File
}

// startChild starts bin with args and exactly env (nothing inherited beyond it), its stdout and
// stderr appended to logPath.
func startChild(name, bin string, args, env []string, logPath string) (*child, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%s: log file: %w", name, err)
	}
	p, err := childproc.Start(name, bin, args, env, logf)
	if err != nil {
		logf.Close()
		return nil, err
	}
	return &child{proc: p, log: logf}, nil
}

// exited is closed once the process has exited and been reaped.
func (c *child) exited() <-chan struct{} { return c.proc.Done() }

// pid is the process id (also its process group id).
func (c *child) pid() int { return c.proc.Pid() }

// exitedUnexpectedly reports, once the process ended without stop being called, why, with the
// last lines of its log; nil while it runs or when it was stopped on purpose.
func (c *child) exitedUnexpectedly() error { return c.proc.ExitedUnexpectedly() }

// stop sends SIGINT to the child's process group, waits up to grace for it to exit, then sends
// SIGKILL. It returns once the process is reaped, and is safe to call more than once.
func (c *child) stop(grace time.Duration) {
	c.proc.Stop(grace)
	_ = c.log.Close()
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
