package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			return
		}
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer up.Close()
	upTLS := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer upTLS.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// A port that was free a moment ago and is closed now: nothing accepts there.
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()
	dir := t.TempDir()
	full := filepath.Join(dir, "ca.pem")
	empty := filepath.Join(dir, "empty.pem")
	if err := os.WriteFile(full, []byte("pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		args    []string
		wantErr string // "" when every probe passes
	}{
		{"a 2xx HTTP answer passes", []string{up.URL + "/health"}, ""},
		{"a 503 HTTP answer fails with its status", []string{up.URL + "/readyz"}, "503"},
		{"an HTTPS server with an untrusted certificate fails by default", []string{upTLS.URL + "/health"}, "certificate"},
		{"-insecure accepts it, as the kubelet's HTTPS probes do", []string{"-insecure", upTLS.URL + "/health"}, ""},
		{"a listening TCP port passes", []string{"tcp://" + ln.Addr().String()}, ""},
		{"a closed TCP port fails", []string{"tcp://" + closedAddr}, "refused"},
		{"a non-empty file passes", []string{"file://" + full}, ""},
		{"an empty file fails: the CA is not written yet", []string{"file://" + empty}, "non-empty"},
		{"a missing file fails", []string{"file://" + filepath.Join(dir, "nope")}, "no such file"},
		{"every probe must pass", []string{up.URL + "/health", "file://" + empty}, "non-empty"},
		{"an unknown scheme is an error, not a pass", []string{"ftp://x"}, "unknown probe scheme"},
		{"no probe is an error, not a pass", nil, "no probe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), tt.args, io.Discard, io.Discard)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("run(%q) = %v, want success", tt.args, err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("run(%q) = %v, want an error containing %q", tt.args, err, tt.wantErr)
			}
		})
	}
}
