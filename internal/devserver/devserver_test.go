package devserver

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/witboost-community/cde-spark-provisioner/internal/testsupport"
)

func TestStartDevArgs(t *testing.T) {
	tuned := append([]string{}, Tuning...)
	for _, tt := range []struct {
		name string
		o    Options
		want []string
	}{
		{"the zero value is headless, in memory, at warn, tuned", Options{},
			append([]string{"server", "start-dev", "--ip", "127.0.0.1", "--port", "7233", "--headless", "--log-level", "warn"}, tuned...)},
		{"the Web UI on its port and a database file", Options{UIPort: "8233", DBFile: "t.db"},
			append([]string{"server", "start-dev", "--ip", "127.0.0.1", "--port", "7233", "--ui-port", "8233", "--db-filename", "t.db", "--log-level", "warn"}, tuned...)},
		{"untuned at another log level", Options{Untuned: true, LogLevel: "error"},
			[]string{"server", "start-dev", "--ip", "127.0.0.1", "--port", "7233", "--headless", "--log-level", "error"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := startDevArgs("127.0.0.1:7233", tt.o)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	if _, err := startDevArgs("no-port", Options{}); err == nil {
		t.Error("an address without a port: want an error")
	}
}

// fakeServer writes a shell script standing for the temporal binary.
func fakeServer(t *testing.T, script string) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the fake server is a shell script")
	}
	bin := filepath.Join(t.TempDir(), "temporal")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"+script+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

func TestStartFailsWithTheOutputOfAServerThatExitsDuringStartUp(t *testing.T) {
	bin := fakeServer(t, `echo "starting with $*"; echo "Error: bind: address already in use" >&2; exit 1`)
	var out testsupport.SyncBuffer
	s, err := Start(t.Context(), Options{Bin: bin, Output: &out})
	if err == nil {
		s.Stop()
		t.Fatal("want an error")
	}
	for _, want := range []string{"exited during start-up", "exit status 1", "Error: bind: address already in use", "--headless"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if !strings.Contains(out.String(), "address already in use") {
		t.Errorf("Output got %q, want the server's stderr too", out.String())
	}
}

func TestStartStopsAServerThatDoesNotAnswer(t *testing.T) {
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	for _, tt := range []struct {
		name string
		ctx  context.Context
		want string
	}{
		{"after the ready timeout", t.Context(), "did not answer within 1s"},
		{"when ctx ends", canceled, context.Canceled.Error()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pidFile := filepath.Join(t.TempDir(), "pid")
			bin := fakeServer(t, "echo $$ > "+pidFile+"\nexec sleep 600")
			s, err := Start(tt.ctx, Options{Bin: bin, ReadyTimeout: time.Second})
			if err == nil {
				s.Stop()
				t.Fatal("want an error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			// Start returns once the process is reaped; the script may not have run at all
			// when ctx had already ended.
			if b, readErr := os.ReadFile(pidFile); readErr == nil {
				pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
				if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
					t.Errorf("the fake server (pid %d) is still there: %v", pid, err)
				}
			}
		})
	}
}

// startReal starts the pinned dev server (built by the first call: minutes; then cached).
func startReal(t *testing.T, o Options) *Server {
	t.Helper()
	if testing.Short() {
		t.Skip("starts the real Temporal dev server")
	}
	o.ModuleDir = filepath.Join("..", "..")
	s, err := Start(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

func TestStartedServerAnswersUntilStopped(t *testing.T) {
	db := filepath.Join(t.TempDir(), "temporal.db")
	var out testsupport.SyncBuffer
	s := startReal(t, Options{DBFile: db, Output: &out})
	if host := strings.Split(s.Addr(), ":")[0]; host != "127.0.0.1" {
		t.Errorf("Addr() = %q, want a port on 127.0.0.1", s.Addr())
	}
	if s.UIAddr() != "" {
		t.Errorf("UIAddr() = %q, want none when headless", s.UIAddr())
	}
	c, err := client.DialContext(t.Context(), client.Options{HostPort: s.Addr(), Namespace: Namespace})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CheckHealth(t.Context(), &client.CheckHealthRequest{}); err != nil {
		t.Errorf("health check: %v", err)
	}
	c.Close()
	if err := s.Err(); err != nil {
		t.Errorf("Err() while running = %v", err)
	}

	s.Stop()
	select {
	case <-s.Done():
	default:
		t.Fatal("Done() not closed after Stop")
	}
	if err := s.Err(); err != nil {
		t.Errorf("Err() after Stop = %v, want nil", err)
	}
	if err := s.proc.Wait(); err != nil {
		t.Errorf("the server did not exit cleanly on SIGINT: %v\n%s", err, out.String())
	}
	if _, err := os.Stat(db); err != nil {
		t.Errorf("database file: %v", err)
	}
	s.Stop() // idempotent
}

func TestErrSaysWhenTheServerDies(t *testing.T) {
	s := startReal(t, Options{Untuned: true})
	if err := syscall.Kill(s.proc.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-s.Done()
	err := s.Err()
	if err == nil || !strings.Contains(err.Error(), "exited unexpectedly") || !strings.Contains(err.Error(), "killed") {
		t.Errorf("Err() = %v, want an unexpected exit by a signal", err)
	}
}
