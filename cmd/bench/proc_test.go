package main

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func shPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	return p
}

func TestAChildThatDiesIsReportedWithItsLog(t *testing.T) {
	cs := &children{}
	c, err := startChild("worker", shPath(t), []string{"-c", "echo 'worker: bind: address already in use' >&2; exit 3"}, nil, filepath.Join(t.TempDir(), "worker.log"))
	if err != nil {
		t.Fatal(err)
	}
	cs.add(c)
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	cs.watch(ctx, c, cancel)
	<-ctx.Done() // the watcher cancels as soon as the child is gone
	err = context.Cause(ctx)
	if err == nil || !strings.Contains(err.Error(), "worker exited unexpectedly") || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("cause %v: want the exit and the log's last line", err)
	}
	if got := cs.firstUnexpectedExit(); got == nil || got.Error() != err.Error() {
		t.Errorf("firstUnexpectedExit = %v", got)
	}
	cs.stopAll(time.Second)
}

func TestStartChildOfAMissingBinary(t *testing.T) {
	if _, err := startChild("ghost", filepath.Join(t.TempDir(), "nope"), nil, nil, filepath.Join(t.TempDir(), "log")); err == nil {
		t.Fatal("no error starting a missing binary")
	}
}

func TestLastLines(t *testing.T) {
	if got := lastLines([]byte("a\nb\nc\n\n"), 2); got != "  b\n  c" {
		t.Errorf("got %q", got)
	}
	if got := lastLines([]byte("only"), 5); got != "  only" {
		t.Errorf("got %q", got)
	}
	if got := lastLines(nil, 5); got != "  (empty)" {
		t.Errorf("got %q", got)
	}
}

func TestMergeEnvDropsConfigurationAndAddsOurs(t *testing.T) {
	base := []string{
		"PATH=/usr/bin", "HOME=/root", "AWS_PROFILE=dev", "AWS_REGION=eu-west-1", "CDP_PRIVATE_KEY=x",
		"TEMPORAL_ADDRESS=prod:7233", "GOGC=off", "GOMEMLIMIT=1GiB", "SYNC_TIMEOUT=1s", "HEALTH_ADDR=:9090",
		"UPLOAD_CONCURRENCY=1", "GOFLAGS=-mod=mod", "SSL_CERT_FILE=/etc/x.pem", "AUTH_TOKEN_FILE=/t", "TLS_CERT_FILE=/c",
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://x",
	}
	got := mergeEnv(base, []string{"AWS_REGION=us-east-1", "LOG_LEVEL=info"})
	want := []string{"PATH=/usr/bin", "HOME=/root", "GOFLAGS=-mod=mod", "AWS_REGION=us-east-1", "LOG_LEVEL=info"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("mergeEnv = %q\nwant %q", got, want)
	}
}

func TestPoll(t *testing.T) {
	ctx := context.Background()
	calls := 0
	err := poll(ctx, "thing", time.Minute, time.Millisecond, func(context.Context) error {
		calls++
		if calls < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("poll = %v after %d calls; want success on the third", err, calls)
	}

	err = poll(ctx, "the thing", 0, time.Millisecond, func(context.Context) error { return errors.New("still down") })
	if err == nil || !strings.Contains(err.Error(), "the thing not ready after 0s: still down") {
		t.Fatalf("poll past its deadline = %v", err)
	}

	cctx, cancel := context.WithCancelCause(ctx)
	cancel(errors.New("worker crashed"))
	err = poll(cctx, "the API", time.Minute, time.Millisecond, func(context.Context) error { return errors.New("down") })
	if err == nil || !strings.Contains(err.Error(), "waiting for the API: worker crashed") {
		t.Fatalf("poll of a cancelled context = %v", err)
	}
}
