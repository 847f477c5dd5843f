package cdesim_test

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"net/http"
	"testing"
	"time"

	"github.com/witboost-community/cde-spark-provisioner/cde/cdesim"
)

func sha1hex(b []byte) string {
	s := sha1.Sum(b)
	return hex.EncodeToString(s[:])
}

func TestFilesResourceLifecycle(t *testing.T) {
	e := newEnv(t, cdesim.Options{})
	api := e.devAPI(t)
	vcID := e.vc(t, cdesim.DemoService, cdesim.DemoVC).VCID

	r := api.call(t, http.MethodPost, "/resources", map[string]any{
		"name": "mainres-1", "type": "files", "retentionPolicy": "keep_indefinitely", "pythonEnvironment": nil,
	})
	wantStatus(t, r, 201)
	if len(r.body) != 0 {
		t.Errorf("create answers an empty body, got %s", r.body)
	}
	wantStatus(t, api.call(t, http.MethodPost, "/resources", map[string]any{"name": "mainres-1", "type": "files"}), 409)

	jar := bytes.Repeat([]byte("PK\x03\x04jar"), 10000)
	wantStatus(t, api.upload(t, "mainres-1", "app.jar", jar), 201)
	wantStatus(t, api.upload(t, "mainres-1", "lib/dep.jar", []byte("dep")), 201)

	r = api.call(t, http.MethodGet, "/resources/mainres-1", nil)
	wantStatus(t, r, 200)
	res := r.json(t)
	if res["status"] != "ready" || res["type"] != "files" || res["retentionPolicy"] != "keep_indefinitely" {
		t.Errorf("resource %s", r.body)
	}
	files := res["files"].([]any)
	if len(files) != 2 {
		t.Fatalf("files %v", files)
	}
	app := files[0].(map[string]any)
	if app["path"] != "app.jar" || app["sizeBytes"] != float64(len(jar)) || app["signature"] != sha1hex(jar) {
		t.Errorf("file entry %v, want path app.jar size %d signature %s", app, len(jar), sha1hex(jar))
	}
	if sig, _ := res["signature"].(string); len(sig) != 40 {
		t.Errorf("resource signature %q is not 40 hex", sig)
	}
	sigBefore := res["signature"]

	// Re-uploading other content overwrites and changes the signatures.
	wantStatus(t, api.upload(t, "mainres-1", "app.jar", []byte("v2")), 201)
	info, err := e.sim.Resource(vcID, "mainres-1")
	if err != nil {
		t.Fatal(err)
	}
	if info.Files[0].Size != 2 || info.Signature == sigBefore {
		t.Errorf("after overwrite: %+v", info)
	}
	if b, ok := e.sim.FileBytes(vcID, "mainres-1", "app.jar"); !ok || string(b) != "v2" {
		t.Errorf("FileBytes %q %v", b, ok)
	}

	r = api.call(t, http.MethodGet, "/resources/mainres-1/lib/dep.jar", nil)
	wantStatus(t, r, 200)
	if string(r.body) != "dep" || r.header.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("download %q %s", r.body, r.header.Get("Content-Type"))
	}
	if r := api.call(t, http.MethodGet, "/resources/mainres-1?includeFiles=false", nil); r.json(t)["files"] != nil {
		t.Errorf("includeFiles=false still lists files: %s", r.body)
	}
	r = api.call(t, http.MethodGet, "/resources?filter=type%5Beq%5Dfiles", nil)
	if got := names(r.json(t)["resources"].([]any), "name"); len(got) != 1 || got[0] != "mainres-1" {
		t.Errorf("list %s", r.body)
	}

	wantStatus(t, api.call(t, http.MethodDelete, "/resources/mainres-1/lib/dep.jar", nil), 204)
	wantStatus(t, api.call(t, http.MethodGet, "/resources/mainres-1/lib/dep.jar", nil), 404)
	wantStatus(t, api.call(t, http.MethodDelete, "/resources/mainres-1", nil), 204)
	wantStatus(t, api.call(t, http.MethodGet, "/resources/mainres-1", nil), 404)
	wantStatus(t, api.call(t, http.MethodDelete, "/resources/mainres-1", nil), 404)
}

func TestResourceErrors(t *testing.T) {
	e := newEnv(t, cdesim.Options{})
	api := e.devAPI(t)
	wantStatus(t, api.call(t, http.MethodPost, "/resources", map[string]any{"name": "files", "type": "files"}), 201)
	wantStatus(t, api.call(t, http.MethodPost, "/resources",
		map[string]any{"name": "env", "type": "python-env", "pythonEnv": map[string]any{"pythonVersion": "python3"}}), 201)

	tests := []struct {
		name   string
		do     func() response
		status int
	}{
		{"create without a type is 400", func() response {
			return api.call(t, http.MethodPost, "/resources", map[string]any{"name": "x"})
		}, 400},
		{"create of an unsupported type is 400", func() response {
			return api.call(t, http.MethodPost, "/resources", map[string]any{"name": "x", "type": "custom-runtime-image"})
		}, 400},
		{"python-env without a python version is 400", func() response {
			return api.call(t, http.MethodPost, "/resources", map[string]any{"name": "x", "type": "python-env"})
		}, 400},
		{"upload into a missing resource is 404", func() response {
			return api.upload(t, "missing", "app.jar", []byte("x"))
		}, 404},
		{"upload of a non-requirements file into a python-env is 400", func() response {
			return api.upload(t, "env", "app.py", []byte("x"))
		}, 400},
		{"upload that is not multipart is 400", func() response {
			return api.call(t, http.MethodPut, "/resources/files/app.jar", "raw bytes")
		}, 400},
		{"get of a missing resource is 404", func() response {
			return api.call(t, http.MethodGet, "/resources/missing", nil)
		}, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.do()
			wantStatus(t, r, tt.status)
			if msg, _ := r.json(t)["message"].(string); msg == "" {
				t.Errorf("error without message: %s", r.body)
			}
		})
	}
}

func TestPythonEnvLifecycle(t *testing.T) {
	tests := []struct {
		name       string
		field      string // pythonEnv (documented) or pythonEnvironment (witboost)
		failReason string
		final      string
	}{
		{"documented pythonEnv field builds to ready", "pythonEnv", "", "ready"},
		{"witboost's pythonEnvironment field is accepted too", "pythonEnvironment", "", "ready"},
		{"an injected build failure ends in failed with the reason", "pythonEnv", "pip: no matching distribution for nope==1", "failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, cdesim.Options{PythonEnvPending: 10 * time.Second, PythonEnvBuild: time.Minute})
			api := e.devAPI(t)
			vcID := e.vc(t, cdesim.DemoService, cdesim.DemoVC).VCID
			wantStatus(t, api.call(t, http.MethodPost, "/resources", map[string]any{
				"name": "pyenv", "type": "python-env", "retentionPolicy": "keep_indefinitely",
				tt.field: map[string]any{"pythonVersion": "python3", "pyPiMirror": nil},
			}), 201)
			status := func() map[string]any {
				t.Helper()
				r := api.call(t, http.MethodGet, "/resources/pyenv", nil)
				wantStatus(t, r, 200)
				return r.json(t)
			}
			if got := status(); got["status"] != "pending-build" || got["signature"] != nil {
				t.Errorf("fresh python-env: %v", got)
			}
			if tt.failReason != "" {
				if err := e.sim.FailPythonEnvBuild(vcID, "pyenv", tt.failReason); err != nil {
					t.Fatal(err)
				}
			}
			wantStatus(t, api.upload(t, "pyenv", "requirements.txt", []byte("requests==2.32.0\n# comment\npandas\n")), 201)
			steps := []struct {
				advance time.Duration
				want    string
			}{
				{0, "pending-build"},
				{10 * time.Second, "building"},
				{time.Minute - time.Second, "building"},
				{time.Second, tt.final},
			}
			for _, st := range steps {
				e.clock.Advance(st.advance)
				if got := status(); got["status"] != st.want {
					t.Fatalf("after +%s: status %v, want %s", st.advance, got["status"], st.want)
				}
			}
			got := status()
			if pe := got["pythonEnv"].(map[string]any); pe["pythonVersion"] != "python3" || pe["type"] != "python-env" {
				t.Errorf("pythonEnv %v", pe)
			}
			info := got["pythonEnvInfo"].(map[string]any)
			wantReason := "Build completed"
			if tt.failReason != "" {
				wantReason = tt.failReason
			} else if info["numberOfPackages"] != float64(2) {
				t.Errorf("numberOfPackages %v, want 2", info["numberOfPackages"])
			}
			if info["statusReason"] != wantReason {
				t.Errorf("statusReason %v, want %q", info["statusReason"], wantReason)
			}
			ri, err := e.sim.Resource(vcID, "pyenv")
			if err != nil || ri.Status != tt.final || ri.StatusReason != tt.failReason || ri.PythonVersion != "python3" {
				t.Errorf("Resource %+v %v", ri, err)
			}
		})
	}
}

func TestDigestOnlyUploadsKeepSizeAndSignature(t *testing.T) {
	e := newEnv(t, cdesim.Options{DigestOnlyUploads: true})
	api := e.devAPI(t)
	vcID := e.vc(t, cdesim.DemoService, cdesim.DemoVC).VCID
	wantStatus(t, api.call(t, http.MethodPost, "/resources", map[string]any{"name": "big", "type": "files"}), 201)
	data := bytes.Repeat([]byte{0xAB}, 3<<20)
	wantStatus(t, api.upload(t, "big", "big.jar", data), 201)
	info, err := e.sim.Resource(vcID, "big")
	if err != nil {
		t.Fatal(err)
	}
	if f := info.Files[0]; f.Size != int64(len(data)) || f.Signature != sha1hex(data) {
		t.Errorf("file %+v", f)
	}
	if _, ok := e.sim.FileBytes(vcID, "big", "big.jar"); ok {
		t.Error("bytes kept in digest-only mode")
	}
	wantStatus(t, api.call(t, http.MethodGet, "/resources/big/big.jar", nil), http.StatusGone)
}

func TestResourceAccessors(t *testing.T) {
	e := newEnv(t, cdesim.Options{})
	vcID := e.vc(t, cdesim.DemoService, cdesim.DemoVC).VCID
	if err := e.sim.AddResource(vcID, "r", "files", ""); err != nil {
		t.Fatal(err)
	}
	if err := e.sim.PutFile(vcID, "r", "a/b.py", []byte("print(1)")); err != nil {
		t.Fatal(err)
	}
	if err := e.sim.AddResource(vcID, "r", "files", ""); err == nil {
		t.Error("duplicate AddResource accepted")
	}
	if err := e.sim.FailPythonEnvBuild(vcID, "r", "x"); err == nil {
		t.Error("FailPythonEnvBuild accepted a files resource")
	}
	api := e.devAPI(t)
	r := api.call(t, http.MethodGet, "/resources/r/a/b.py", nil)
	wantStatus(t, r, 200)
	if string(r.body) != "print(1)" {
		t.Errorf("body %q", r.body)
	}
	if names, _ := e.sim.ResourceNames(vcID); len(names) != 1 || names[0] != "r" {
		t.Errorf("names %v", names)
	}
}

// With a status lag, a new upload to an environment built before keeps reporting that build's
// outcome for the lag, then goes through pending-build and building again.
func TestPythonEnvStatusLagsBehindAnUpload(t *testing.T) {
	e := newEnv(t, cdesim.Options{PythonEnvPending: 10 * time.Second, PythonEnvBuild: time.Minute, PythonEnvStatusLag: 5 * time.Second})
	api := e.devAPI(t)
	wantStatus(t, api.call(t, http.MethodPost, "/resources", map[string]any{
		"name": "pyenv", "type": "python-env", "retentionPolicy": "keep_indefinitely",
		"pythonEnv": map[string]any{"pythonVersion": "python3"},
	}), 201)
	status := func() any {
		t.Helper()
		r := api.call(t, http.MethodGet, "/resources/pyenv", nil)
		wantStatus(t, r, 200)
		return r.json(t)["status"]
	}
	// The first build: no earlier outcome to report, so no lag.
	wantStatus(t, api.upload(t, "pyenv", "requirements.txt", []byte("pandas\n")), 201)
	if got := status(); got != "pending-build" {
		t.Fatalf("first upload: %v", got)
	}
	e.clock.Advance(5*time.Second + 10*time.Second + time.Minute)
	if got := status(); got != "ready" {
		t.Fatalf("first build: %v", got)
	}
	// A new upload: ready (stale) for the lag, then the new build.
	wantStatus(t, api.upload(t, "pyenv", "requirements.txt", []byte("pandas\nnumpy\n")), 201)
	for _, st := range []struct {
		advance time.Duration
		want    string
	}{{0, "ready"}, {5*time.Second - time.Millisecond, "ready"}, {time.Millisecond, "pending-build"}, {10 * time.Second, "building"}, {time.Minute, "ready"}} {
		e.clock.Advance(st.advance)
		if got := status(); got != st.want {
			t.Fatalf("after +%s: status %v, want %s", st.advance, got, st.want)
		}
	}
}
