// Package childproc supervises the child processes of the local tooling (the Temporal dev server,
// and the worker and the API that make bench starts): started in a process group of their own,
// their output kept in part for the error of an unexpected exit, stopped with SIGINT first and
// SIGKILL after a grace period.
package childproc

import (
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"sync"
	"time"
)

const (
	// tailBytes of a process's output are kept for the error of an unexpected exit, of which
	// tailLines are shown.
	tailBytes = 4 << 10
	tailLines = 20
	// outputDelay bounds the wait for the output once the process has exited: should it leave
	// a process holding its output open, Done still closes.
	outputDelay = 10 * time.Second
)

// Process is a running child process, started by Start.
type Process struct {
	name string
	cmd  *exec.Cmd
	tail *tailBuffer

	done    chan struct{} // closed once the process has exited and its output is written
	waitErr error         // valid once done is closed

	mu       sync.Mutex
	stopping bool // set by Stop: an exit after it is expected
}

// ExitError is why a process ended on its own, with the last lines of its output.
type ExitError struct {
	// Name is the process's name, as given to Start.
	Name string
	// Status is how it ended: "exit status 1", "signal: killed".
	Status string
	// Tail is the last lines of its output, indented.
	Tail string
	// During is what the caller was waiting for when it ended ("start-up"); empty is nothing.
	During string
}

func (e *ExitError) Error() string {
	when := "unexpectedly"
	if e.During != "" {
		when = "during " + e.During
	}
	return fmt.Sprintf("%s exited %s (%s); last lines of its output:\n%s", e.Name, when, e.Status, e.Tail)
}

// Start starts bin with args and env (nil inherits this process's environment), its stdout and
// stderr written to output (nil discards them). Once Done is closed, nothing more is written to
// output. name is how errors call the process. The caller must call Stop.
func Start(name, bin string, args, env []string, output io.Writer) (*Process, error) {
	p := &Process{name: name, tail: &tailBuffer{}, done: make(chan struct{})}
	out := io.Writer(p.tail)
	if output != nil {
		out = io.MultiWriter(output, p.tail)
	}
	// Not exec.CommandContext: the process outlives the caller's context, and is stopped by
	// Stop with SIGINT first, so that it can exit cleanly (close its files) before SIGKILL.
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = out, out
	p.cmd.SysProcAttr = sysProcAttr()
	p.cmd.WaitDelay = outputDelay
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", name, bin, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process id (on Linux also its process group id).
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed once the process has exited, on Stop or on its own (see ExitedUnexpectedly).
func (p *Process) Done() <-chan struct{} { return p.done }

// Wait waits for the process to exit and returns how it did, as exec.Cmd.Wait: nil for exit
// status 0.
func (p *Process) Wait() error {
	<-p.done
	return p.waitErr
}

// ExitedUnexpectedly says, once the process has ended without Stop, why: an *ExitError. It is
// nil while the process runs and after Stop.
func (p *Process) ExitedUnexpectedly() error {
	select {
	case <-p.done:
	default:
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopping {
		return nil
	}
	status := "exit status 0"
	if p.waitErr != nil {
		status = p.waitErr.Error()
	}
	return &ExitError{Name: p.name, Status: status, Tail: p.tail.lastLines(tailLines)}
}

// Stop sends SIGINT to the process (on Linux to its process group), waits up to grace for it to
// exit, then kills it (on Linux the whole group, so that nothing it started outlives it). It
// returns once the process is gone, and is safe to call more than once.
func (p *Process) Stop(grace time.Duration) {
	p.mu.Lock()
	p.stopping = true
	p.mu.Unlock()
	select {
	case <-p.done:
		return
	default:
	}
	if err := interrupt(p.cmd.Process); err != nil {
		_ = kill(p.cmd.Process)
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		_ = kill(p.cmd.Process)
		<-p.done
	}
	// Something it started that ignored SIGINT must not outlive it either.
	_ = kill(p.cmd.Process)
}

// FreeLoopbackAddr returns a 127.0.0.1 address with a port free at the time of the call. The
// process given it binds it moments later; should another process take it in between, that
// process fails to start and its supervisor says so.
func FreeLoopbackAddr(ctx context.Context) (string, error) {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp4", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// tailBuffer keeps the last tailBytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - tailBytes; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

// lastLines returns the last n lines kept, indented, without a trailing newline.
func (b *tailBuffer) lastLines(n int) string {
	b.mu.Lock()
	text := strings.TrimRight(string(b.buf), "\n")
	b.mu.Unlock()
	if text == "" {
		return "  (no output)"
	}
	lines := strings.Split(text, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ")
}
