package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRunServesTheSeedAndStopsOnCancel(t *testing.T) {
	caPath := filepath.Join(t.TempDir(), "sub", "ca.pem")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		err := run(ctx, []string{"-seed", "../../examples/cdesim-seed.yaml", "-ca-out", caPath}, pw, io.Discard)
		pw.Close()
		errc <- err
	}()

	lines := bufio.NewScanner(pr)
	vars := map[string]string{}
	var services []string
	for lines.Scan() {
		line := lines.Text()
		if k, v, ok := strings.Cut(line, "="); ok && !strings.Contains(k, " ") {
			vars[k] = v
		}
		if strings.HasPrefix(line, "service ") {
			services = append(services, strings.Fields(line)[1])
		}
		if strings.HasPrefix(line, "cdesim: ready") {
			break
		}
	}
	go io.Copy(io.Discard, pr) // keep draining until run returns
	if !strings.HasPrefix(vars["CDP_ENDPOINT_URL"], "https://127.0.0.1:") || vars["SSL_CERT_FILE"] == "" {
		t.Fatalf("printed %v", vars)
	}
	if strings.Join(services, ",") != "cde-dev,cde-old,cde-stage" {
		t.Errorf("services %v", services)
	}

	pem, err := os.ReadFile(vars["SSL_CERT_FILE"])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("CA file holds no certificate")
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}

	// Unsigned control-plane call: the CDP error shape proves the host serves.
	resp, err := client.Post(vars["CDP_ENDPOINT_URL"]+"/api/v1/de/listServices", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]string
	json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != 401 || body["code"] != "UNAUTHENTICATED" {
		t.Errorf("unsigned call: %d %v", resp.StatusCode, body)
	}

	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("run after cancel: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not stop after cancel")
	}
}

func TestRunRejectsBadInput(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("services: [{name: a, nope: 1}]"), 0o600)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"-nope"}, "flag provided but not defined"},
		{"missing seed file", []string{"-seed", "/does/not/exist.yaml"}, "read seed"},
		{"invalid seed", []string{"-seed", bad}, "nope"},
		{"non-loopback listen address", []string{"-listen", "0.0.0.0"}, "loopback"},
		{"stray argument", []string{"extra"}, "unexpected arguments"},
		{"unknown patch mode", []string{"-patch", "deep"}, "want merge, replace or fieldwise"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), tt.args, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want it to mention %q", err, tt.want)
			}
		})
	}
}
