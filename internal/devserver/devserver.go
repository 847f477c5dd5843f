// Package devserver starts the pinned Temporal dev server (temporal server start-dev, built from
// tools/temporal) for the local stack (make run), the benchmark (make bench) and the end-to-end
// tests, so that all three run the same server with the same settings (Tuning), started, awaited
// and stopped the same way (Start, Server.Stop).
package devserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/witboost-community/cde-spark-provisioner/internal/childproc"
)

// Tuning are the start-dev flags beyond address, ports and database file.
//
//   - SQLite in WAL mode with synchronous=NORMAL: by default the dev server's database file is in
//     rollback-journal mode with synchronous=FULL, so each of Temporal's many small transactions
//     waits for several fsyncs, on the one connection the server allows SQLite. That commit path,
//     not the CPU, bounded a burst of 200 provisions (make bench, figure 5: p99 17–19 s with the
//     default journal against about 9 s in WAL mode). WAL with synchronous=NORMAL can lose the
//     last transactions on a power cut (never on a crash of the process), which is acceptable for
//     a local stack; a production Temporal has its own persistence. An in-memory database
//     ignores the journal mode.
//   - Eager activity execution (system.enableActivityEagerExecution): the server hands an
//     activity scheduled by a workflow task back in the answer to that task when the worker has
//     a free slot, instead of through the matching service. Off by default in the server; on in
//     Temporal Cloud. Workers request it by default.
var Tuning = []string{
	"--sqlite-pragma", "journal_mode=wal",
	"--sqlite-pragma", "synchronous=normal",
	"--dynamic-config-value", "system.enableActivityEagerExecution=true",
}

// Namespace is the namespace the dev server is ready with (start-dev always creates it).
const Namespace = "default"

// Defaults of Options.
const (
	// DefaultReadyTimeout is generous, for a loaded 2-core machine, but finite.
	DefaultReadyTimeout = 90 * time.Second
	defaultLogLevel     = "warn"
	// stopGrace is how long Stop waits after SIGINT, for the server to close its SQLite file.
	stopGrace         = 10 * time.Second
	readyPollInterval = 100 * time.Millisecond
)

// CLI builds, the first time, the Temporal CLI pinned in moduleDir/tools/temporal (then the
// build cache answers) and returns the path of its binary.
func CLI(ctx context.Context, moduleDir string) (string, error) {
	dir := filepath.Join(moduleDir, "tools", "temporal")
	cmd := exec.CommandContext(ctx, "go", "tool", "-n", "temporal")
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("build the pinned Temporal CLI in %s: %w: %s", dir, err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}

// Options says how Start runs the dev server. The zero value is a headless, tuned server with an
// in-memory database on a free 127.0.0.1 port, its output discarded, built from the module in
// the working directory.
type Options struct {
	// ModuleDir is the module whose tools/temporal pins the CLI (see CLI); empty is ".".
	ModuleDir string
	// Bin, when set, is the temporal binary to run instead of the one CLI builds.
	Bin string
	// Addr is the frontend's host:port; empty is a free port on 127.0.0.1.
	Addr string
	// UIPort is the Web UI's port, on the frontend's host; empty runs the server headless.
	UIPort string
	// DBFile is the SQLite database file; empty keeps the database in memory.
	DBFile string
	// Env is the server's environment; nil inherits this process's.
	Env []string
	// Untuned leaves out Tuning: the server's own defaults.
	Untuned bool
	// LogLevel is the server's log level; empty is warn.
	LogLevel string
	// Output receives the server's stdout and stderr; nil discards them. Once Stop has returned
	// (or Done is closed), nothing more is written to it.
	Output io.Writer
	// ReadyTimeout bounds the wait for the frontend to answer; zero is DefaultReadyTimeout.
	ReadyTimeout time.Duration
}

// Server is a running dev server, started by Start.
type Server struct {
	addr, uiAddr string
	proc         *childproc.Process
}

// Start starts the dev server and returns once its frontend answers for Namespace. It fails
// with the tail of the server's output if the process exits before, and stops it if ctx ends or
// Options.ReadyTimeout passes first. ctx bounds the start only: the server then runs until Stop,
// which the caller must call.
func Start(ctx context.Context, o Options) (*Server, error) {
	bin := o.Bin
	if bin == "" {
		moduleDir := o.ModuleDir
		if moduleDir == "" {
			moduleDir = "."
		}
		var err error
		if bin, err = CLI(ctx, moduleDir); err != nil {
			return nil, err
		}
	}
	addr := o.Addr
	if addr == "" {
		var err error
		if addr, err = childproc.FreeLoopbackAddr(ctx); err != nil {
			return nil, fmt.Errorf("the Temporal dev server: %w", err)
		}
	}
	args, err := startDevArgs(addr, o)
	if err != nil {
		return nil, err
	}

	s := &Server{addr: addr}
	if o.UIPort != "" {
		host, _, _ := net.SplitHostPort(addr)
		s.uiAddr = net.JoinHostPort(host, o.UIPort)
	}
	// Stopped by Stop with SIGINT first, so that it closes its SQLite file cleanly.
	if s.proc, err = childproc.Start("the Temporal dev server on "+addr, bin, args, o.Env, o.Output); err != nil {
		return nil, err
	}

	timeout := o.ReadyTimeout
	if timeout <= 0 {
		timeout = DefaultReadyTimeout
	}
	if err := s.waitReady(ctx, timeout); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// startDevArgs are the arguments of `temporal server start-dev` for a server on addr with o's
// settings.
func startDevArgs(addr string, o Options) ([]string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("temporal dev server address %q: %w", addr, err)
	}
	args := []string{"server", "start-dev", "--ip", host, "--port", port}
	if o.UIPort != "" {
		args = append(args, "--ui-port", o.UIPort)
	} else {
		args = append(args, "--headless")
	}
	if o.DBFile != "" {
		args = append(args, "--db-filename", o.DBFile)
	}
	level := o.LogLevel
	if level == "" {
		level = defaultLogLevel
	}
	args = append(args, "--log-level", level)
	if !o.Untuned {
		args = append(args, Tuning...)
	}
	return args, nil
}

// waitReady polls the frontend until it describes Namespace, the process exits, ctx ends or
// timeout passes.
func (s *Server) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeoutCause(ctx, timeout,
		fmt.Errorf("the Temporal dev server at %s did not answer within %s", s.addr, timeout))
	defer cancel()
	t := time.NewTicker(readyPollInterval)
	defer t.Stop()
	for {
		err := s.ping(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-s.proc.Done():
			return startUpExit(s.proc.ExitedUnexpectedly())
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", context.Cause(ctx), err)
		case <-t.C:
		}
	}
}

// startUpExit says that err, the server's exit, came during start-up.
func startUpExit(err error) error {
	if exit, ok := errors.AsType[*childproc.ExitError](err); ok {
		exit.During = "start-up"
	}
	return err
}

// ping dials the frontend and describes Namespace.
func (s *Server) ping(ctx context.Context) error {
	c, err := client.DialContext(ctx, client.Options{
		HostPort: s.addr, Namespace: Namespace,
		Logger: tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)),
	})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: Namespace})
	return err
}

// Addr is the frontend's host:port.
func (s *Server) Addr() string { return s.addr }

// UIAddr is the Web UI's host:port, empty when headless.
func (s *Server) UIAddr() string { return s.uiAddr }

// Done is closed once the process has exited, on Stop or on its own (see Err).
func (s *Server) Done() <-chan struct{} { return s.proc.Done() }

// Err says why the server exited on its own, with the tail of its output; nil while it runs and
// after Stop.
func (s *Server) Err() error { return s.proc.ExitedUnexpectedly() }

// Stop sends the server SIGINT, waits up to 10 s for it to exit (closing its database), then
// kills it. It returns once the process is gone, and is safe to call more than once.
func (s *Server) Stop() { s.proc.Stop(stopGrace) }
