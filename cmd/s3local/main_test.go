package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestRunSeedsTheExamplesAndStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		err := run(ctx, []string{"-addr", "127.0.0.1:0", "-examples", "../../examples"}, pw, io.Discard)
		pw.Close()
		errc <- err
	}()

	vars := map[string]string{}
	lines := bufio.NewScanner(pr)
	for lines.Scan() {
		line := lines.Text()
		if k, v, ok := strings.Cut(line, "="); ok {
			vars[k] = v
		}
		if strings.HasPrefix(line, "s3local: ready") {
			break
		}
	}
	go io.Copy(io.Discard, pr) // keep draining until run returns
	endpoint := vars["AWS_ENDPOINT_URL_S3"]
	if !strings.HasPrefix(endpoint, "http://127.0.0.1:") || vars["S3_USE_PATH_STYLE"] != "true" {
		t.Fatalf("printed %v", vars)
	}

	// A sample named by examples/spark-jar.yaml is there once the server says ready; the
	// server checks no signature, so a plain GET reads it.
	resp, err := http.Get(endpoint + "/artifacts/finance/cashflow/0.0.0/spark-app-0.0.0.jar")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET seeded jar: %s", resp.Status)
	}

	cancel()
	if err := <-errc; err != nil {
		t.Errorf("run after cancel: %v", err)
	}
}

func TestRunRefusesBadInvocations(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"a non-loopback address is refused: the server has no authentication", []string{"-addr", "0.0.0.0:9000", "-examples", "../../examples"}, "127.0.0.1 only"},
		{"a positional argument is refused", []string{"extra"}, "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), tt.args, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("run(%q) = %v, want an error containing %q", tt.args, err, tt.want)
			}
		})
	}
}

func TestVersionPrintsAndExits(t *testing.T) {
	var out strings.Builder
	if err := run(context.Background(), []string{"--version"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "s3local ") {
		t.Errorf("printed %q", out.String())
	}
}
