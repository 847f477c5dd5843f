package cdesim_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/witboost-community/cde-spark-provisioner/cde/cdesim"
)

// witboostJob is a job body shaped exactly as witboost's encoder emits it.
func witboostJob(name string) map[string]any {
	var m map[string]any
	_ = json.Unmarshal([]byte(`{"name":"`+name+`","type":"spark",
	 "mounts":[{"resourceName":"mainres-1"}],
	 "retentionPolicy":"keep_indefinitely",
	 "spark":{"file":"app.jar","driverCores":1,"driverMemory":"1g","executorCores":1,
	   "executorMemory":"1g","logLevel":"INFO","numExecutors":1,"className":"com.example.Main",
	   "args":["--date","2024-01-01"],
	   "conf":{"dex.safariEnabled":"true","spark.cde.idBrokerHosts":"10.10.1.10,10.10.1.11"},
	   "jars":["dep.jar"],"proxyUser":null,"pythonEnvResourceName":null,"pyFiles":null},
	 "airflow":null,
	 "schedule":{"enabled":true,"user":"","paused":null,"catchup":null,"dependsOnPast":null,
	   "pausedUponCreation":null,"start":"2024-05-19T09:00:34Z","end":"2024-05-20T12:00:00Z",
	   "cronExpression":"0 * * * *","nextExecution":null}}`), &m)
	return m
}

func devWithResource(t *testing.T, opts cdesim.Options) (*env, vcAPI) {
	t.Helper()
	e := newEnv(t, opts)
	api := e.devAPI(t)
	wantStatus(t, api.call(t, http.MethodPost, "/resources", map[string]any{"name": "mainres-1", "type": "files"}), 201)
	return e, api
}

func TestJobCRUD(t *testing.T) {
	e, api := devWithResource(t, cdesim.Options{})

	r := api.call(t, http.MethodPost, "/jobs", witboostJob("cmp-dev"))
	wantStatus(t, r, http.StatusCreated)
	if len(r.body) != 0 {
		t.Errorf("create answers an empty body, got %s", r.body)
	}

	r = api.call(t, http.MethodGet, "/jobs/cmp-dev", nil)
	wantStatus(t, r, 200)
	got := r.json(t)
	for _, f := range []string{"created", "modified", "lastUsed", "mounts", "retentionPolicy"} {
		if _, ok := got[f]; !ok {
			t.Errorf("GET job lacks %s (witboost requires it): %s", f, r.body)
		}
	}
	if got["created"] != t0.Format(time.RFC3339) {
		t.Errorf("created %v, want %s", got["created"], t0.Format(time.RFC3339))
	}
	if strings.Contains(string(r.body), "null") {
		t.Errorf("nulls are not echoed: %s", r.body)
	}
	if sp := got["spark"].(map[string]any); sp["driverCores"] != float64(1) || sp["className"] != "com.example.Main" {
		t.Errorf("spark spec not kept: %v", sp)
	}

	e.clock.Advance(time.Minute)
	patch := witboostJob("cmp-dev")
	patch["spark"].(map[string]any)["args"] = []any{"--date", "2024-02-02"}
	wantStatus(t, api.call(t, http.MethodPatch, "/jobs/cmp-dev", patch), 200)
	got = api.call(t, http.MethodGet, "/jobs/cmp-dev", nil).json(t)
	if args := got["spark"].(map[string]any)["args"].([]any); args[1] != "2024-02-02" {
		t.Errorf("patched args %v", args)
	}
	if got["modified"] != t0.Add(time.Minute).Format(time.RFC3339) || got["created"] != t0.Format(time.RFC3339) {
		t.Errorf("timestamps after patch: created %v modified %v", got["created"], got["modified"])
	}

	wantStatus(t, api.call(t, http.MethodDelete, "/jobs/cmp-dev", nil), http.StatusNoContent)
	wantStatus(t, api.call(t, http.MethodGet, "/jobs/cmp-dev", nil), 404)
	if names, _ := e.sim.JobNames(e.vc(t, cdesim.DemoService, cdesim.DemoVC).VCID); len(names) != 0 {
		t.Errorf("jobs left: %v", names)
	}
}

func TestJobErrors(t *testing.T) {
	_, api := devWithResource(t, cdesim.Options{})
	wantStatus(t, api.call(t, http.MethodPost, "/jobs", witboostJob("exists")), 201)
	noFile := witboostJob("x")
	delete(noFile["spark"].(map[string]any), "file")
	badMount := witboostJob("x")
	badMount["mounts"] = []any{map[string]any{"resourceName": "missing"}}
	badEnv := witboostJob("x")
	badEnv["spark"].(map[string]any)["pythonEnvResourceName"] = "missing"
	noType := witboostJob("x")
	delete(noType, "type")
	rename := witboostJob("other")

	tests := []struct {
		name   string
		method string
		path   string
		body   any
		status int
	}{
		{"get of a missing job is 404", "GET", "/jobs/missing", nil, 404},
		{"patch of a missing job is 404", "PATCH", "/jobs/missing", witboostJob("missing"), 404},
		{"delete of a missing job is 404", "DELETE", "/jobs/missing", nil, 404},
		{"create with an existing name is 409", "POST", "/jobs", witboostJob("exists"), 409},
		{"create without spark.file is 400", "POST", "/jobs", noFile, 400},
		{"create without type is 400", "POST", "/jobs", noType, 400},
		{"create mounting a missing resource is 400", "POST", "/jobs", badMount, 400},
		{"create naming a missing python env is 400", "POST", "/jobs", badEnv, 400},
		{"create with a malformed body is 400", "POST", "/jobs", "{not json", 400},
		{"patch renaming the job is 400", "PATCH", "/jobs/exists", rename, 400},
		{"run of a missing job is 404", "POST", "/jobs/missing/run", nil, 404},
		{"unknown endpoint is 404", "GET", "/nope", nil, 404},
		{"known endpoint with another method is 405", "PUT", "/jobs/exists", nil, 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := api.call(t, tt.method, tt.path, tt.body)
			wantStatus(t, r, tt.status)
			if msg, _ := r.json(t)["message"].(string); msg == "" {
				t.Errorf("error without message: %s", r.body)
			}
		})
	}
}

func TestDuplicateJobStatusIsConfigurable(t *testing.T) {
	_, api := devWithResource(t, cdesim.Options{DuplicateJobStatus: 400})
	wantStatus(t, api.call(t, http.MethodPost, "/jobs", witboostJob("j")), 201)
	wantStatus(t, api.call(t, http.MethodPost, "/jobs", witboostJob("j")), 400)
}

func TestPatchSemantics(t *testing.T) {
	tests := []struct {
		name     string
		mode     cdesim.PatchMode
		patch    map[string]any
		wantConf string // JSON of spark.conf after the patch
	}{
		{"merge patch merges nested objects", cdesim.PatchMerge,
			map[string]any{"spark": map[string]any{"conf": map[string]any{"a": "2"}}}, `{"a":"2","b":"1"}`},
		{"merge patch removes a field set to null", cdesim.PatchMerge,
			map[string]any{"spark": map[string]any{"conf": map[string]any{"b": nil}}}, `{"a":"1"}`},
		{"merge patch keeps conf keys the body leaves out", cdesim.PatchMerge,
			map[string]any{"spark": map[string]any{"conf": map[string]any{"c": "3"}}}, `{"a":"1","b":"1","c":"3"}`},
		{"fieldwise patch replaces maps whole", cdesim.PatchFieldwise,
			map[string]any{"spark": map[string]any{"conf": map[string]any{"c": "3"}}}, `{"c":"3"}`},
		{"fieldwise patch keeps a field sent as null", cdesim.PatchFieldwise,
			map[string]any{"spark": map[string]any{"conf": nil, "className": nil}}, `{"a":"1","b":"1"}`},
		{"replace patch replaces the job", cdesim.PatchReplace,
			map[string]any{"type": "spark", "spark": map[string]any{"file": "app.jar", "conf": map[string]any{"c": "3"}}}, `{"c":"3"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, api := devWithResource(t, cdesim.Options{Patch: tt.mode})
			job := map[string]any{"name": "j", "type": "spark", "mounts": []any{map[string]any{"resourceName": "mainres-1"}},
				"spark": map[string]any{"file": "app.jar", "conf": map[string]any{"a": "1", "b": "1"}}}
			wantStatus(t, api.call(t, http.MethodPost, "/jobs", job), 201)
			wantStatus(t, api.call(t, http.MethodPatch, "/jobs/j", tt.patch), 200)
			got := api.call(t, http.MethodGet, "/jobs/j", nil).json(t)
			conf, _ := json.Marshal(got["spark"].(map[string]any)["conf"])
			if string(conf) != tt.wantConf {
				t.Errorf("conf %s, want %s", conf, tt.wantConf)
			}
		})
	}
}

func TestListJobsPaginatesAndFilters(t *testing.T) {
	_, api := devWithResource(t, cdesim.Options{})
	for _, n := range []string{"c-job", "a-job", "b-job", "other"} {
		wantStatus(t, api.call(t, http.MethodPost, "/jobs", witboostJob(n)), 201)
	}
	tests := []struct {
		name    string
		query   string
		want    string
		hasNext bool
		count   float64
	}{
		{"default order is by name", "?limit=100&offset=0", "a-job,b-job,c-job,other", false, 4},
		{"limit and offset page the list", "?limit=2&offset=1", "b-job,c-job", true, 4},
		{"eq filter", "?filter=name%5Beq%5Db-job", "b-job", false, 1},
		{"like filter", "?filter=name%5Blike%5D%25-job", "a-job,b-job,c-job", false, 3},
		{"two filters are ANDed", "?filter=name%5Blike%5D%25-job&filter=name%5Bnoteq%5Da-job", "b-job,c-job", false, 2},
		{"nested field filter", "?filter=spark.file%5Beq%5Dapp.jar&orderasc=false&limit=1", "other", true, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := api.call(t, http.MethodGet, "/jobs"+tt.query, nil)
			wantStatus(t, r, 200)
			body := r.json(t)
			if got := strings.Join(names(body["jobs"].([]any), "name"), ","); got != tt.want {
				t.Errorf("jobs %s, want %s", got, tt.want)
			}
			meta := body["meta"].(map[string]any)
			if meta["hasNext"] != tt.hasNext || meta["count"] != tt.count {
				t.Errorf("meta %v, want hasNext %v count %v", meta, tt.hasNext, tt.count)
			}
		})
	}
	wantStatus(t, api.call(t, http.MethodGet, "/jobs?filter=name%5Bbogus%5Dx", nil), 400)
	wantStatus(t, api.call(t, http.MethodGet, "/jobs?limit=0", nil), 400)
}

func TestRunJob(t *testing.T) {
	e, api := devWithResource(t, cdesim.Options{PythonEnvPending: time.Second, PythonEnvBuild: time.Minute})
	vcID := e.vc(t, cdesim.DemoService, cdesim.DemoVC).VCID
	wantStatus(t, api.call(t, http.MethodPost, "/resources",
		map[string]any{"name": "pyenv", "type": "python-env", "pythonEnv": map[string]any{"pythonVersion": "python3"}}), 201)
	job := witboostJob("py")
	job["spark"].(map[string]any)["pythonEnvResourceName"] = "pyenv"
	wantStatus(t, api.call(t, http.MethodPost, "/jobs", job), 201)

	r := api.call(t, http.MethodPost, "/jobs/py/run", map[string]any{})
	wantStatus(t, r, 400)
	if msg := r.json(t)["message"]; msg != "cannot use resource 'pyenv' in status 'pending-build'" {
		t.Errorf("message %q", msg)
	}

	if err := e.sim.PutFile(vcID, "pyenv", "requirements.txt", []byte("requests==2.32.0\n")); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Minute)
	r = api.call(t, http.MethodPost, "/jobs/py/run", map[string]any{"requestID": "req-1"})
	wantStatus(t, r, 201)
	if r.json(t)["id"] != float64(1) {
		t.Errorf("run id %s", r.body)
	}
	r = api.call(t, http.MethodPost, "/jobs/py/run", map[string]any{"requestID": "req-1"})
	wantStatus(t, r, 409)
	if r.json(t)["id"] != float64(1) {
		t.Errorf("duplicate requestID answers the earlier id: %s", r.body)
	}

	if err := e.sim.SetJobRunStatus(vcID, 1, "running"); err != nil {
		t.Fatal(err)
	}
	r = api.call(t, http.MethodGet, "/job-runs/1", nil)
	wantStatus(t, r, 200)
	if got := r.json(t); got["status"] != "running" || got["user"] != cdesim.DemoUser || got["job"] != "py" {
		t.Errorf("run %s", r.body)
	}
	wantStatus(t, api.call(t, http.MethodPost, "/job-runs/1/kill", nil), 204)
	r = api.call(t, http.MethodGet, "/job-runs?filter=job%5Beq%5Dpy", nil)
	if runs := r.json(t)["runs"].([]any); len(runs) != 1 || runs[0].(map[string]any)["status"] != "killed" {
		t.Errorf("runs %s", r.body)
	}
	wantStatus(t, api.call(t, http.MethodGet, "/job-runs/7", nil), 404)
}

func TestJobStateAccessors(t *testing.T) {
	e, _ := devWithResource(t, cdesim.Options{})
	vcID := e.vc(t, cdesim.DemoService, cdesim.DemoVC).VCID
	b, _ := json.Marshal(witboostJob("seeded"))
	if err := e.sim.PutJob(vcID, b); err != nil {
		t.Fatal(err)
	}
	raw, err := e.sim.Job(vcID, "seeded")
	if err != nil || !strings.Contains(string(raw), `"lastUsed"`) {
		t.Fatalf("Job: %s %v", raw, err)
	}
	if err := e.sim.PutJob(vcID, []byte(`{"name":"bad","type":"spark"}`)); err == nil {
		t.Error("PutJob accepted a job without spark.file")
	}
	if err := e.sim.DeleteJob(vcID, "seeded"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sim.Job(vcID, "seeded"); err == nil {
		t.Error("job still there")
	}
}
