// Package devserver holds the settings the local stack (make run, make bench) gives the pinned
// Temporal dev server (temporal server start-dev), so that both run the same server, and builds
// that pinned CLI (for the end-to-end tests too).
package devserver

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
)

// Tuning are the start-dev flags beyond address, ports and database file.
//
//   - SQLite in WAL mode with synchronous=NORMAL: by default the dev server's database file is in
//     rollback-journal mode with synchronous=FULL, so each of Temporal's many small transactions
//     waits for several fsyncs, on the one connection the server allows SQLite. That commit path,
//     not the CPU, bounded a burst of 200 provisions (make bench, figure 5: p99 17–19 s with the
//     default journal against about 9 s in WAL mode). WAL with synchronous=NORMAL can lose the
//     last transactions on a power cut (never on a crash of the process), which is acceptable for
//     a local stack; a production Temporal has its own persistence.
//   - Eager activity execution (system.enableActivityEagerExecution): the server hands an
//     activity scheduled by a workflow task back in the answer to that task when the worker has
//     a free slot, instead of through the matching service. Off by default in the server; on in
//     Temporal Cloud. Workers request it by default.
var Tuning = []string{
	"--sqlite-pragma", "journal_mode=wal",
	"--sqlite-pragma", "synchronous=normal",
	"--dynamic-config-value", "system.enableActivityEagerExecution=true",
}

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

// StartDevArgs are the arguments of `temporal server start-dev` for a server on addr (host:port)
// with its SQLite database in dbFile, logging warnings and errors only: with the Web UI on
// uiPort, or headless when uiPort is empty. The caller appends Tuning (or not).
func StartDevArgs(addr, uiPort, dbFile string) ([]string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("temporal dev server address %q: %w", addr, err)
	}
	args := []string{"server", "start-dev", "--ip", host, "--port", port}
	if uiPort != "" {
		args = append(args, "--ui-port", uiPort)
	} else {
		args = append(args, "--headless")
	}
	return append(args, "--db-filename", dbFile, "--log-level", "warn"), nil
}
