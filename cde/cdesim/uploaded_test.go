package cdesim_test

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"testing"

	"github.com/witboost-community/cde-spark-provisioner/cde/cdesim"
)

func TestUploadedBytesCountsEveryUploadPerResource(t *testing.T) {
	for _, digestOnly := range []bool{false, true} {
		name := "files kept"
		if digestOnly {
			name = "DigestOnlyUploads"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, cdesim.Options{DigestOnlyUploads: digestOnly})
			api := e.devAPI(t)
			dev := e.vc(t, cdesim.DemoService, cdesim.DemoVC)
			other, err := e.sim.AddVC(context.Background(), dev.ClusterID, cdesim.VCSeed{Name: "vc-two"})
			if err != nil {
				t.Fatal(err)
			}
			api2 := vcAPI{e: e, base: other.APIURL, token: api.token}

			if got := e.sim.UploadedBytes("", ""); got != 0 {
				t.Fatalf("a fresh simulator counts %d bytes", got)
			}
			for _, a := range []vcAPI{api, api2} {
				wantStatus(t, a.call(t, http.MethodPost, "/resources", map[string]any{"name": "res-a", "type": "files"}), 201)
			}
			wantStatus(t, api.call(t, http.MethodPost, "/resources", map[string]any{"name": "res-b", "type": "files"}), 201)

			wantStatus(t, api.upload(t, "res-a", "app.jar", bytes.Repeat([]byte("a"), 1000)), 201)
			// Overwriting with the same content is traffic all the same.
			wantStatus(t, api.upload(t, "res-a", "app.jar", bytes.Repeat([]byte("a"), 1000)), 201)
			wantStatus(t, api.upload(t, "res-b", "lib/dep.jar", bytes.Repeat([]byte("b"), 300)), 201)
			wantStatus(t, api2.upload(t, "res-a", "app.jar", bytes.Repeat([]byte("c"), 40)), 201)
			// Deleting the file does not take its bytes back.
			wantStatus(t, api.call(t, http.MethodDelete, "/resources/res-b/lib/dep.jar", nil), 204)

			for _, tc := range []struct {
				vcID, resource string
				want           int64
			}{
				{dev.VCID, "res-a", 2000},
				{dev.VCID, "res-b", 300},
				{dev.VCID, "", 2300},
				{other.VCID, "res-a", 40},
				{other.VCID, "", 40},
				{"", "res-a", 2040},
				{"", "", 2340},
				{dev.VCID, "res-none", 0},
				{"dex-app-unknown", "", 0},
			} {
				if got := e.sim.UploadedBytes(tc.vcID, tc.resource); got != tc.want {
					t.Errorf("UploadedBytes(%q, %q) = %d, want %d", tc.vcID, tc.resource, got, tc.want)
				}
			}
		})
	}
}

func TestUploadedBytesCountsWhatArrivedOfAFailedUpload(t *testing.T) {
	e := newEnv(t, cdesim.Options{})
	api := e.devAPI(t)
	vcID := e.vc(t, cdesim.DemoService, cdesim.DemoVC).VCID
	wantStatus(t, api.call(t, http.MethodPost, "/resources", map[string]any{"name": "res", "type": "files"}), 201)

	// A multipart body that ends inside the file part: the handler reads the
	// 500 bytes that came, then fails on the missing closing boundary.
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile("file", "app.jar")
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(bytes.Repeat([]byte("x"), 500))
	req, err := http.NewRequest(http.MethodPut, api.base+"/resources/res/app.jar", &buf)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+api.token)
	wantStatus(t, do(t, e.http, req), 400)
	if got := e.sim.UploadedBytes(vcID, "res"); got != 500 {
		t.Errorf("truncated upload: UploadedBytes = %d, want the 500 bytes that arrived", got)
	}

	// Requests refused before their body is read count nothing.
	wantStatus(t, api.upload(t, "missing", "app.jar", []byte("never read")), 404)
	e.sim.FailNext("PUT /dex/api/v1/resources/**", 1, cdesim.Failure{Status: 503})
	wantStatus(t, api.upload(t, "res", "app.jar", []byte("never read")), 503)
	if got := e.sim.UploadedBytes("", ""); got != 500 {
		t.Errorf("after refused uploads: UploadedBytes = %d, want 500", got)
	}
}

func TestKeepUploadsUpToKeepsSmallFilesOfADigestOnlySimulator(t *testing.T) {
	const limit = 1000
	e := newEnv(t, cdesim.Options{DigestOnlyUploads: true, KeepUploadsUpTo: limit})
	api := e.devAPI(t)
	vcID := e.vc(t, cdesim.DemoService, cdesim.DemoVC).VCID
	wantStatus(t, api.call(t, http.MethodPost, "/resources", map[string]any{"name": "res", "type": "files"}), 201)

	small := bytes.Repeat([]byte("m"), limit)
	big := bytes.Repeat([]byte("b"), limit+1)
	wantStatus(t, api.upload(t, "res", "manifest.json", small), 201)
	wantStatus(t, api.upload(t, "res", "big.jar", big), 201)
	if err := e.sim.PutFile(vcID, "res", "put-small", small); err != nil {
		t.Fatal(err)
	}
	if err := e.sim.PutFile(vcID, "res", "put-big", big); err != nil {
		t.Fatal(err)
	}

	for _, p := range []string{"manifest.json", "put-small"} {
		r := api.call(t, http.MethodGet, "/resources/res/"+p, nil)
		wantStatus(t, r, 200)
		if !bytes.Equal(r.body, small) {
			t.Errorf("%s: downloaded %d bytes, want the %d uploaded", p, len(r.body), len(small))
		}
	}
	for _, p := range []string{"big.jar", "put-big"} {
		wantStatus(t, api.call(t, http.MethodGet, "/resources/res/"+p, nil), http.StatusGone)
		if _, ok := e.sim.FileBytes(vcID, "res", p); ok {
			t.Errorf("%s: bytes of a file above KeepUploadsUpTo were kept", p)
		}
	}
	info, err := e.sim.Resource(vcID, "res")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range info.Files {
		want := small
		if f.Path == "big.jar" || f.Path == "put-big" {
			want = big
		}
		if f.Size != int64(len(want)) || f.Signature != sha1hex(want) {
			t.Errorf("%s: size %d signature %s, want %d %s", f.Path, f.Size, f.Signature, len(want), sha1hex(want))
		}
	}
}

func TestKeepUploadsUpToIsIgnoredWithoutDigestOnlyUploads(t *testing.T) {
	e := newEnv(t, cdesim.Options{KeepUploadsUpTo: 10})
	api := e.devAPI(t)
	wantStatus(t, api.call(t, http.MethodPost, "/resources", map[string]any{"name": "res", "type": "files"}), 201)
	data := bytes.Repeat([]byte("z"), 100)
	wantStatus(t, api.upload(t, "res", "app.jar", data), 201)
	r := api.call(t, http.MethodGet, "/resources/res/app.jar", nil)
	wantStatus(t, r, 200)
	if !bytes.Equal(r.body, data) {
		t.Errorf("downloaded %d bytes, want %d", len(r.body), len(data))
	}
}
