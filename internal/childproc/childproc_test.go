package childproc

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/witboost-community/cde-spark-provisioner/internal/testsupport"
)

// fakeChild writes a shell script standing for a child's binary.
func fakeChild(t *testing.T, script string) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the fake child is a shell script")
	}
	bin := filepath.Join(t.TempDir(), "child")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"+script+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

func TestAChildThatExitsIsReportedWithTheTailOfItsOutput(t *testing.T) {
	bin := fakeChild(t, `i=1; while [ $i -le 30 ]; do echo "line $i"; i=$((i+1)); done
echo "worker: bind: address already in use" >&2; exit 3`)
	var out testsupport.SyncBuffer
	p, err := Start("worker", bin, nil, nil, &out)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(time.Second)
	<-p.Done()
	err = p.ExitedUnexpectedly()
	var exit *ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("ExitedUnexpectedly() = %v, want an *ExitError", err)
	}
	for _, want := range []string{"worker exited unexpectedly", "exit status 3", "line 30", "address already in use"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "line 1\n") {
		t.Errorf("error %q has more than the last %d lines", err, tailLines)
	}
	if !strings.Contains(out.String(), "line 1\n") || !strings.Contains(out.String(), "address already in use") {
		t.Errorf("output got %q, want all of stdout and stderr", out.String())
	}
}

func TestStopEndsASleepingChildAndItsChildren(t *testing.T) {
	// The shell waits for sleep, which runs in its process group.
	bin := fakeChild(t, "echo started; sleep 300")
	p, err := Start("sleeper", bin, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.ExitedUnexpectedly(); err != nil {
		t.Errorf("ExitedUnexpectedly() while running = %v", err)
	}
	p.Stop(10 * time.Second)
	select {
	case <-p.Done():
	default:
		t.Fatal("Stop returned before the child was reaped")
	}
	if err := p.ExitedUnexpectedly(); err != nil {
		t.Errorf("a stopped child is reported as unexpected: %v", err)
	}
	p.Stop(time.Second) // idempotent
}

func TestStopKillsAChildThatIgnoresSIGINT(t *testing.T) {
	bin := fakeChild(t, "trap '' INT; echo ready; while :; do sleep 1; done")
	var out testsupport.SyncBuffer
	p, err := Start("stubborn", bin, nil, nil, &out)
	if err != nil {
		t.Fatal(err)
	}
	// SIGINT must come after the trap, or it ends the shell.
	for !strings.Contains(out.String(), "ready") {
		select {
		case <-p.Done():
			t.Fatalf("the child exited before it was ready: %v", p.ExitedUnexpectedly())
		case <-time.After(10 * time.Millisecond):
		}
	}
	p.Stop(200 * time.Millisecond)
	if err := p.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("the child ended with %v; want it killed", err)
	}
	if err := p.ExitedUnexpectedly(); err != nil {
		t.Errorf("a stopped child is reported as unexpected: %v", err)
	}
}

func TestStartOfAMissingBinary(t *testing.T) {
	_, err := Start("ghost", filepath.Join(t.TempDir(), "nope"), nil, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "start ghost") {
		t.Fatalf("Start of a missing binary = %v, want an error naming it", err)
	}
}

func TestLastLines(t *testing.T) {
	for _, tt := range []struct {
		name, written string
		n             int
		want          string
	}{
		{"the last n lines, indented, without trailing newlines", "a\nb\nc\n\n", 2, "  b\n  c"},
		{"fewer lines than n are all kept", "only", 5, "  only"},
		{"no output says so", "", 5, "  (no output)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var b tailBuffer
			fmt.Fprint(&b, tt.written)
			if got := b.lastLines(tt.n); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTailBufferKeepsOnlyTheLastBytes(t *testing.T) {
	var b tailBuffer
	fmt.Fprint(&b, strings.Repeat("x", tailBytes))
	fmt.Fprint(&b, "\nlast")
	if len(b.buf) != tailBytes || !strings.HasSuffix(string(b.buf), "\nlast") {
		t.Errorf("kept %d bytes ending %q, want the last %d", len(b.buf), b.buf[len(b.buf)-5:], tailBytes)
	}
}

func TestFreeLoopbackAddr(t *testing.T) {
	addr, err := FreeLoopbackAddr(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host != "127.0.0.1" || port == "0" {
		t.Fatalf("FreeLoopbackAddr() = %q (%v), want a port on 127.0.0.1", addr, err)
	}
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		t.Fatalf("the port is not free: %v", err)
	}
	ln.Close()
}
