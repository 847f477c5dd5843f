package cdesim_test

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/witboost-community/cde-spark-provisioner/cde/cdesim"
)

// A download carries its Content-Length, so that a client can tell a body
// cut short from a whole one, and its exact bytes, also past the size that
// net/http would buffer (and measure) by itself.
func TestDownloadAnswersTheStoredBytesWithTheirLength(t *testing.T) {
	e := newEnv(t, cdesim.Options{})
	api := e.devAPI(t)
	wantStatus(t, api.call(t, http.MethodPost, "/resources", map[string]any{"name": "r", "type": "files"}), 201)
	for _, tt := range []struct {
		name, path string
		data       []byte
	}{
		{"empty file", "empty.txt", nil},
		{"small file", "a.py", []byte("print(1)")},
		{"file larger than the server's write buffer", "lib/big.jar", bytes.Repeat([]byte("0123456789abcdef"), 1<<16)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantStatus(t, api.upload(t, "r", tt.path, tt.data), 201)
			r := api.call(t, http.MethodGet, "/resources/r/"+tt.path, nil)
			wantStatus(t, r, 200)
			if !bytes.Equal(r.body, tt.data) {
				t.Errorf("downloaded %d bytes, want the %d uploaded", len(r.body), len(tt.data))
			}
			if got := r.header.Get("Content-Length"); got != strconv.Itoa(len(tt.data)) {
				t.Errorf("Content-Length %q, want %d", got, len(tt.data))
			}
		})
	}
	wantStatus(t, api.call(t, http.MethodGet, "/resources/r/missing.txt", nil), 404)
	wantStatus(t, api.call(t, http.MethodGet, "/resources/missing/a.py", nil), 404)
}

// A digest-only simulator cannot give back a big file's bytes: it says so
// instead of answering an empty or wrong body with a 200, and with a
// permanent status (410) that no client retries.
func TestDownloadOfADigestOnlyFileIsAClearError(t *testing.T) {
	e := newEnv(t, cdesim.Options{DigestOnlyUploads: true, KeepUploadsUpTo: 1 << 10})
	api := e.devAPI(t)
	wantStatus(t, api.call(t, http.MethodPost, "/resources", map[string]any{"name": "r", "type": "files"}), 201)
	wantStatus(t, api.upload(t, "r", "small.py", []byte("kept")), 201)
	wantStatus(t, api.upload(t, "r", "big.jar", bytes.Repeat([]byte{1}, 64<<10)), 201)

	r := api.call(t, http.MethodGet, "/resources/r/small.py", nil)
	wantStatus(t, r, 200)
	if string(r.body) != "kept" {
		t.Errorf("small file %q", r.body)
	}
	r = api.call(t, http.MethodGet, "/resources/r/big.jar", nil)
	wantStatus(t, r, http.StatusGone)
	if !strings.Contains(string(r.body), "DigestOnlyUploads") || !strings.Contains(string(r.body), "big.jar") {
		t.Errorf("error body %q does not say why", r.body)
	}
}

// The mirror a python-env was created with (witboost's pyPiMirror, under
// either name of the environment object) is reported back in pythonEnv.
func TestPythonEnvReportsItsMirror(t *testing.T) {
	e := newEnv(t, cdesim.Options{})
	api := e.devAPI(t)
	for i, tt := range []struct {
		name, key, mirror string
	}{
		{"documented pythonEnv with a mirror", "pythonEnv", "https://mirror.example/simple"},
		{"witboost's pythonEnvironment with a mirror", "pythonEnvironment", "https://other.example/pypi"},
		{"no mirror", "pythonEnv", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]any{"pythonVersion": "python3"}
			if tt.mirror != "" {
				env["pyPiMirror"] = tt.mirror
			}
			name := "env-" + strconv.Itoa(i)
			wantStatus(t, api.call(t, http.MethodPost, "/resources", map[string]any{"name": name, "type": "python-env", tt.key: env}), 201)
			got, _ := api.call(t, http.MethodGet, "/resources/"+name, nil).json(t)["pythonEnv"].(map[string]any)
			if got["pythonVersion"] != "python3" {
				t.Errorf("pythonEnv %v", got)
			}
			if m, has := got["pyPiMirror"]; (tt.mirror == "" && has) || (tt.mirror != "" && m != tt.mirror) {
				t.Errorf("pythonEnv %v, want mirror %q", got, tt.mirror)
			}
		})
	}
}
