package cde

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// newTestJobsClient sends every request once (NoRetry): these tests script each answer; the
// retries have tests of their own (retry_test.go).
func newTestJobsClient(t *testing.T, srv *httptest.Server, tokens TokenSource) *JobsClient {
	t.Helper()
	c, err := NewJobsClient(srv.URL+"/dex/api/v1/", tokens, srv.Client(), WithRetryPolicy(NoRetry))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// vcRequest is what a fake jobs API saw.
type vcRequest struct {
	Method, RawPath, Query string
	Header                 http.Header
	Body                   []byte
}

// fakeVC answers every request with one status and body and records it;
// when getBody is set, GETs are answered 200 with it instead (UpdateJob
// reads the job before writing it).
type fakeVC struct {
	mu      sync.Mutex
	seen    []vcRequest
	status  int
	body    string
	getBody string
}

func (f *fakeVC) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.seen = append(f.seen, vcRequest{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Clone(), body})
	status, respBody := f.status, f.body
	if r.Method == http.MethodGet && f.getBody != "" {
		status, respBody = http.StatusOK, f.getBody
	}
	f.mu.Unlock()
	w.WriteHeader(status)
	_, _ = io.WriteString(w, respBody)
}

func (f *fakeVC) last(t *testing.T) vcRequest {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.seen) == 0 {
		t.Fatal("the server saw no request")
	}
	return f.seen[len(f.seen)-1]
}

func startFakeVC(t *testing.T, status int, body string) (*fakeVC, *JobsClient) {
	t.Helper()
	f := &fakeVC{status: status, body: body}
	srv := httptest.NewTLSServer(f)
	t.Cleanup(srv.Close)
	return f, newTestJobsClient(t, srv, StaticTokenSource("tok-1"))
}

// jsonEqual compares two JSON documents semantically.
func jsonEqual(t *testing.T, what string, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: got invalid JSON %q: %v", what, got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: want invalid JSON: %v", what, err)
	}
	assertEqual(t, what, g, w)
}

func ptr[T any](v T) *T { return &v }

func TestJobsEndpointsSendExpectedRequests(t *testing.T) {
	job := Job{
		Name: "cmp-name-dev", Type: JobTypeSpark, RetentionPolicy: RetentionKeepIndefinitely,
		Mounts: []Mount{{ResourceName: "mainres-5d41"}},
		Spark: &SparkJob{File: "app.jar", ClassName: "com.example.Main", Args: []string{"--date", "2024-01-01"},
			Conf: map[string]string{"dex.safariEnabled": "true"}, Jars: []string{"dep.jar"},
			DriverCores: 1, DriverMemory: "1g", ExecutorCores: 1, ExecutorMemory: "1g", NumExecutors: 1, LogLevel: "INFO"},
		Schedule: &Schedule{Enabled: true, User: "", CronExpression: "0 * * * *", Start: "2024-05-19T09:00:34Z", End: "2024-05-20T12:00:00Z"},
	}
	jobJSON := `{"name":"cmp-name-dev","type":"spark","mounts":[{"resourceName":"mainres-5d41"}],"retentionPolicy":"keep_indefinitely",
		"spark":{"file":"app.jar","className":"com.example.Main","args":["--date","2024-01-01"],"conf":{"dex.safariEnabled":"true"},
		"driverCores":1,"driverMemory":"1g","executorCores":1,"executorMemory":"1g","numExecutors":1,"logLevel":"INFO","jars":["dep.jar"]},
		"schedule":{"enabled":true,"cronExpression":"0 * * * *","start":"2024-05-19T09:00:34Z","end":"2024-05-20T12:00:00Z"}}`
	tests := []struct {
		name              string
		call              func(context.Context, *JobsClient) error
		method, path, qry string
		body              string // JSON; "" = no body
	}{
		{"get job", func(ctx context.Context, c *JobsClient) error { _, err := c.GetJob(ctx, "cmp-name-dev"); return err },
			"GET", "/dex/api/v1/jobs/cmp-name-dev", "", ""},
		{"create job", func(ctx context.Context, c *JobsClient) error { return c.CreateJob(ctx, job) },
			"POST", "/dex/api/v1/jobs", "", jobJSON},
		{"update job sends unset optional fields as null", func(ctx context.Context, c *JobsClient) error { return c.UpdateJob(ctx, job) },
			"PATCH", "/dex/api/v1/jobs/cmp-name-dev", "", `{"name":"cmp-name-dev","type":"spark","mounts":[{"resourceName":"mainres-5d41"}],
			"retentionPolicy":"keep_indefinitely","airflow":null,
			"spark":{"file":"app.jar","className":"com.example.Main","args":["--date","2024-01-01"],"conf":{"dex.safariEnabled":"true"},
			"driverCores":1,"driverMemory":"1g","executorCores":1,"executorMemory":"1g","numExecutors":1,"logLevel":"INFO","jars":["dep.jar"],
			"pyFiles":null,"files":null,"pythonEnvResourceName":null,"proxyUser":null},
			"schedule":{"enabled":true,"cronExpression":"0 * * * *","start":"2024-05-19T09:00:34Z","end":"2024-05-20T12:00:00Z",
			"user":null,"paused":null,"pausedUponCreation":null,"catchup":null,"dependsOnPast":null}}`},
		{"update of a bare job clears mounts and schedule explicitly", func(ctx context.Context, c *JobsClient) error {
			return c.UpdateJob(ctx, Job{Name: "j", Type: "spark", Spark: &SparkJob{File: "a.py", PyFiles: []string{}}})
		}, "PATCH", "/dex/api/v1/jobs/j", "", `{"name":"j","type":"spark","mounts":[],"retentionPolicy":null,"airflow":null,
			"spark":{"file":"a.py","className":null,"args":null,"conf":null,"driverCores":null,"driverMemory":null,"executorCores":null,
			"executorMemory":null,"numExecutors":null,"logLevel":null,"jars":null,"pyFiles":[],"files":null,"pythonEnvResourceName":null,"proxyUser":null},
			"schedule":{"enabled":false,"user":null,"cronExpression":null,"start":null,"end":null,"paused":null,"pausedUponCreation":null,
			"catchup":null,"dependsOnPast":null}}`},
		{"delete job", func(ctx context.Context, c *JobsClient) error { return c.DeleteJob(ctx, "cmp-name-dev") },
			"DELETE", "/dex/api/v1/jobs/cmp-name-dev", "", ""},
		{"list jobs with filters", func(ctx context.Context, c *JobsClient) error {
			_, err := c.ListJobs(ctx, "name[eq]a b", "type[eq]spark")
			return err
		}, "GET", "/dex/api/v1/jobs", "filter=name%5Beq%5Da+b&filter=type%5Beq%5Dspark&limit=100&offset=0", ""},
		{"get resource with its files", func(ctx context.Context, c *JobsClient) error {
			_, err := c.GetResource(ctx, "mainres-5d41")
			return err
		},
			"GET", "/dex/api/v1/resources/mainres-5d41", "includeFiles=true", ""},
		{"create files resource", func(ctx context.Context, c *JobsClient) error {
			return c.CreateResource(ctx, CreateResourceRequest{Name: "mainres-5d41", Type: ResourceTypeFiles, RetentionPolicy: RetentionKeepIndefinitely})
		}, "POST", "/dex/api/v1/resources", "", `{"name":"mainres-5d41","type":"files","retentionPolicy":"keep_indefinitely"}`},
		{"create python-env resource", func(ctx context.Context, c *JobsClient) error {
			return c.CreateResource(ctx, CreateResourceRequest{Name: "pyenvres-5d41", Type: ResourceTypePythonEnv,
				RetentionPolicy: RetentionKeepIndefinitely, PythonEnv: &PythonEnv{PythonVersion: "python3"}})
		}, "POST", "/dex/api/v1/resources", "", `{"name":"pyenvres-5d41","type":"python-env","retentionPolicy":"keep_indefinitely","pythonEnv":{"pythonVersion":"python3"}}`},
		{"delete resource", func(ctx context.Context, c *JobsClient) error { return c.DeleteResource(ctx, "mainres-5d41") },
			"DELETE", "/dex/api/v1/resources/mainres-5d41", "", ""},
		{"delete a nested resource file, segments escaped", func(ctx context.Context, c *JobsClient) error {
			return c.DeleteResourceFile(ctx, "mainres-5d41", "lib/my dep#1.jar")
		}, "DELETE", "/dex/api/v1/resources/mainres-5d41/lib/my%20dep%231.jar", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, c := startFakeVC(t, 200, "")
			if err := tt.call(context.Background(), c); err != nil {
				t.Fatal(err)
			}
			r := f.last(t)
			if r.Method != tt.method || r.RawPath != tt.path || r.Query != tt.qry {
				t.Errorf("request = %s %s?%s, want %s %s?%s", r.Method, r.RawPath, r.Query, tt.method, tt.path, tt.qry)
			}
			if got := r.Header.Get("Authorization"); got != "Bearer tok-1" {
				t.Errorf("Authorization = %q", got)
			}
			if got := r.Header.Get("Accept"); got != "application/json" {
				t.Errorf("Accept = %q", got)
			}
			if tt.body == "" {
				if len(r.Body) != 0 {
					t.Errorf("unexpected body %q", r.Body)
				}
				return
			}
			if got := r.Header.Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type = %q", got)
			}
			jsonEqual(t, "body", r.Body, tt.body)
		})
	}
}

func TestJobJSONOmitsUnsetFieldsButSendsExplicitEmptyOnes(t *testing.T) {
	b, err := json.Marshal(Job{Name: "j", Mounts: []Mount{}, Spark: &SparkJob{File: "a.py", Conf: map[string]string{}, PyFiles: []string{}},
		Schedule: &Schedule{Enabled: false, Paused: ptr(false)}})
	if err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, "job", b, `{"name":"j","mounts":[],"spark":{"file":"a.py","conf":{},"pyFiles":[]},"schedule":{"enabled":false,"paused":false}}`)
}

func TestGetJobParsesFullMinimalNullAndEmptyBodies(t *testing.T) {
	tests := []struct {
		name, body string
		want       Job
	}{
		{"CLI transcript element", `{"name":"example-virtual-env","type":"spark","created":"2024-06-07T11:17:42Z",
			"modified":"2024-06-07T11:17:42Z","retentionPolicy":"keep_indefinitely","mounts":[{"resourceName":"example-files","dirPrefix":"/x"}],
			"spark":{"file":"pyspark-batch-job.py","driverMemory":"1g","driverCores":1,"executorMemory":"1g","executorCores":1,
			"pythonEnvResourceName":"example-virtual-env","conf":{"spark.pyspark.python":"python3"},"logLevel":"INFO","pyFiles":["a.zip"]},
			"schedule":{"enabled":false,"user":"cde01","start":"2024-06-07T19:17:42.315Z","paused":true,"nextExecution":"x"},"somethingNew":{"a":1}}`,
			Job{Name: "example-virtual-env", Type: "spark", Created: "2024-06-07T11:17:42Z", Modified: "2024-06-07T11:17:42Z",
				RetentionPolicy: "keep_indefinitely", Mounts: []Mount{{ResourceName: "example-files", DirPrefix: "/x"}},
				Spark: &SparkJob{File: "pyspark-batch-job.py", DriverMemory: "1g", DriverCores: 1, ExecutorMemory: "1g", ExecutorCores: 1,
					PythonEnvResourceName: "example-virtual-env", Conf: map[string]string{"spark.pyspark.python": "python3"}, LogLevel: "INFO",
					PyFiles: []string{"a.zip"}},
				Schedule: &Schedule{Enabled: false, User: "cde01", Start: "2024-06-07T19:17:42.315Z", Paused: ptr(true), NextExecution: "x"}}},
		{"witboost-style nulls", `{"name":"j","type":"spark","mounts":null,"spark":{"file":"a.py","className":null,"jars":null,
			"proxyUser":null,"conf":null},"airflow":null,"schedule":{"enabled":false,"user":null,"paused":null}}`,
			Job{Name: "j", Type: "spark", Spark: &SparkJob{File: "a.py"}, Schedule: &Schedule{}}},
		{"minimal", `{"name":"j"}`, Job{Name: "j"}},
		{"empty object", `{}`, Job{}},
		{"empty body", ``, Job{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, c := startFakeVC(t, 200, tt.body)
			got, err := c.GetJob(context.Background(), "j")
			if err != nil {
				t.Fatal(err)
			}
			assertEqual(t, "job", *got, tt.want)
		})
	}
}

func TestGetJobOfMissingJobIsNotFound(t *testing.T) {
	_, c := startFakeVC(t, 404, `{"status":"error","message":"job not found"}`)
	_, err := c.GetJob(context.Background(), "nope")
	if !errors.Is(err, ErrNotFound) || IsTransient(err) {
		t.Errorf("err = %v", err)
	}
}

func TestWritesTolerateAny2xxWithAnyBody(t *testing.T) {
	writes := map[string]func(*JobsClient) error{
		"create job": func(c *JobsClient) error { return c.CreateJob(context.Background(), Job{Name: "j", Type: "spark"}) },
		"update job": func(c *JobsClient) error { return c.UpdateJob(context.Background(), Job{Name: "j"}) },
		"delete job": func(c *JobsClient) error { return c.DeleteJob(context.Background(), "j") },
		"create resource": func(c *JobsClient) error {
			return c.CreateResource(context.Background(), CreateResourceRequest{Name: "r", Type: "files"})
		},
		"delete resource": func(c *JobsClient) error { return c.DeleteResource(context.Background(), "r") },
		"delete file":     func(c *JobsClient) error { return c.DeleteResourceFile(context.Background(), "r", "a.jar") },
		"upload": func(c *JobsClient) error {
			return c.UploadFile(context.Background(), "r", "a.jar", strings.NewReader("x"), 1)
		},
	}
	f, c := startFakeVC(t, 200, "")
	f.getBody = `{"name":"j"}` // UpdateJob's read of the current job
	for _, status := range []int{200, 201, 202, 204} {
		for _, body := range []string{"", "{}", "null", "[]", `{"name":"j","type":"spark","mounts":[],"retentionPolicy":"keep_indefinitely"}`} {
			if status == 204 && body != "" {
				continue // a 204 cannot carry a body
			}
			f.mu.Lock()
			f.status, f.body = status, body
			f.mu.Unlock()
			for name, write := range writes {
				if err := write(c); err != nil {
					t.Errorf("%s answered %d %q: %v", name, status, body, err)
				}
			}
		}
	}
}

func TestCreateOfExistingNameIsConflict(t *testing.T) {
	_, c := startFakeVC(t, 409, `resource already exists`)
	err := c.CreateResource(context.Background(), CreateResourceRequest{Name: "r", Type: "files"})
	if !errors.Is(err, ErrConflict) || IsTransient(err) || !strings.Contains(err.Error(), "resource already exists") {
		t.Errorf("err = %v", err)
	}
}

func TestListJobsFollowsPages(t *testing.T) {
	var mu sync.Mutex
	var offsets []string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		mu.Lock()
		offsets = append(offsets, q.Get("offset"))
		mu.Unlock()
		offset, _ := strconv.Atoi(q.Get("offset"))
		const total = 205
		n := min(total-offset, 100)
		var jobs []string
		for i := range n {
			jobs = append(jobs, `{"name":"job-`+strconv.Itoa(offset+i)+`"}`)
		}
		hasNext := offset+n < total
		_, _ = io.WriteString(w, `{"jobs":[`+strings.Join(jobs, ",")+`],"meta":{"hasNext":`+strconv.FormatBool(hasNext)+`,"limit":100,"offset":`+strconv.Itoa(offset)+`,"count":205}}`)
	}))
	defer srv.Close()
	c := newTestJobsClient(t, srv, StaticTokenSource("t"))
	jobs, err := c.ListJobs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 205 || jobs[0].Name != "job-0" || jobs[204].Name != "job-204" {
		t.Errorf("got %d jobs", len(jobs))
	}
	assertEqual(t, "offsets", offsets, []string{"0", "100", "200"})
}

func TestListJobsWithoutMetaIsOnePage(t *testing.T) {
	for _, body := range []string{`{"jobs":[{"name":"a"},{"name":"b"}]}`, `{"jobs":[],"meta":{"hasNext":true}}`, ``} {
		f, c := startFakeVC(t, 200, body)
		if _, err := c.ListJobs(context.Background()); err != nil {
			t.Errorf("%q: %v", body, err)
		}
		f.mu.Lock()
		if len(f.seen) != 1 {
			t.Errorf("%q: %d requests, want 1", body, len(f.seen))
		}
		f.mu.Unlock()
	}
}

func TestGetResourceParsesFiles(t *testing.T) {
	_, c := startFakeVC(t, 200, `{"name":"pyenvres-5d41","type":"python-env","status":"ready",
		"signature":"6481d4","created":"2024-06-07T11:17:40Z","modified":"2024-06-07T11:17:41Z","retentionPolicy":"keep_indefinitely",
		"files":[{"path":"requirements.txt","signature":"0326","sizeBytes":7,"created":"c","modified":"m"},{"path":"lib/x.jar","size":12}],
		"pythonEnv":{"pythonVersion":"python3","type":"python-env"},
		"pythonEnvInfo":{"statusReason":"Build completed","sizeMb":13,"buildDurationSeconds":44}}`)
	got, err := c.GetResource(context.Background(), "pyenvres-5d41")
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, "resource", *got, Resource{Name: "pyenvres-5d41", Type: ResourceTypePythonEnv, Status: ResourceStatusReady,
		Signature: "6481d4", Created: "2024-06-07T11:17:40Z", Modified: "2024-06-07T11:17:41Z", RetentionPolicy: RetentionKeepIndefinitely,
		Files:         []ResourceFile{{Path: "requirements.txt", Signature: "0326", SizeBytes: 7, Created: "c", Modified: "m"}, {Path: "lib/x.jar", SizeBytes: 12}},
		PythonEnv:     &PythonEnv{PythonVersion: "python3", Type: "python-env"},
		PythonEnvInfo: &PythonEnvInfo{StatusReason: "Build completed", SizeMb: 13, BuildDurationSeconds: 44}})

	for _, body := range []string{"", "{}", `{"name":"r","files":null}`} {
		_, c := startFakeVC(t, 200, body)
		if r, err := c.GetResource(context.Background(), "r"); err != nil || len(r.Files) != 0 {
			t.Errorf("%q: %+v %v", body, r, err)
		}
	}
}

func TestInvalidNamesAreRefusedBeforeAnyRequest(t *testing.T) {
	f, c := startFakeVC(t, 200, "")
	ctx := context.Background()
	calls := map[string]error{
		"empty job name":         func() error { _, err := c.GetJob(ctx, ""); return err }(),
		"job name with a slash":  c.DeleteJob(ctx, "a/b"),
		"dot-dot job name":       c.UpdateJob(ctx, Job{Name: ".."}),
		"create without name":    c.CreateJob(ctx, Job{}),
		"resource without type":  c.CreateResource(ctx, CreateResourceRequest{Name: "r"}),
		"file path with ..":      c.DeleteResourceFile(ctx, "r", "../x"),
		"file path with //":      c.UploadFile(ctx, "r", "a//b", strings.NewReader(""), 0),
		"file path ending in /":  c.UploadFile(ctx, "r", "a/", strings.NewReader(""), 0),
		"empty file path":        c.DeleteResourceFile(ctx, "r", ""),
		"nil upload content":     c.UploadFile(ctx, "r", "a.jar", nil, 0),
		"resource name with a /": func() error { _, err := c.GetResource(ctx, "a/b"); return err }(),
	}
	for name, err := range calls {
		if err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.seen) != 0 {
		t.Errorf("server saw %d requests", len(f.seen))
	}
}

func TestNewJobsClientValidates(t *testing.T) {
	for _, u := range []string{"http://vc.example/dex/api/v1", "vc.example/dex", "https://vc.example/dex?x=1", "https://u:p@vc.example/dex"} {
		if _, err := NewJobsClient(u, StaticTokenSource("t"), nil); err == nil {
			t.Errorf("NewJobsClient(%q): want an error", u)
		}
	}
	if _, err := NewJobsClient("https://vc.example/dex/api/v1", nil, nil); err == nil {
		t.Error("a nil token source must be refused")
	}
	c, err := NewJobsClient("https://vc.example/dex/api/v1/", StaticTokenSource("t"), nil)
	if err != nil || c.base != "https://vc.example/dex/api/v1" {
		t.Errorf("trailing slash: %v %v", c, err)
	}
}

// A 401 from the jobs API refreshes the Knox token and retries exactly once.
func TestJobsAPIRefreshesTokenOnceOn401(t *testing.T) {
	tests := []struct {
		name          string
		acceptedToken string // the jobs API accepts only this token
		wantErr       error
		wantKnox      int
		wantJobs      int
	}{
		{"stale token: refreshed, retried, succeeds", "token-2", nil, 2, 2},
		{"second 401 too: gives up with unauthorized, no loop", "never", ErrUnauthorized, 2, 2},
		{"fresh token: one call each", "token-1", nil, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			knoxCalls, jobsCalls := 0, 0
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				defer mu.Unlock()
				if r.URL.Path == knoxTokenPath {
					knoxCalls++
					_, _ = io.WriteString(w, `{"access_token":"token-`+strconv.Itoa(knoxCalls)+`","token_type":"Bearer","expires_in":-1}`)
					return
				}
				jobsCalls++
				if r.Header.Get("Authorization") != "Bearer "+tt.acceptedToken {
					w.WriteHeader(http.StatusUnauthorized)
					return
				}
				_, _ = io.WriteString(w, `{"name":"j"}`)
			}))
			defer srv.Close()
			knox, err := NewKnoxTokenSource(KnoxConfig{User: "u", Password: "p", HTTPClient: srv.Client()})
			if err != nil {
				t.Fatal(err)
			}
			c := newTestJobsClient(t, srv, knox.ForHost(srv.Listener.Addr().String()))
			_, err = c.GetJob(context.Background(), "j")
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil && IsTransient(err) {
				t.Error("a repeated 401 must not be transient")
			}
			if knoxCalls != tt.wantKnox || jobsCalls != tt.wantJobs {
				t.Errorf("knox calls = %d, jobs calls = %d; want %d, %d", knoxCalls, jobsCalls, tt.wantKnox, tt.wantJobs)
			}
		})
	}
}

// Knox refusing the workload user is reported as such, without a retry
// loop and without the password.
func TestKnoxRefusalSurfacesFromJobsCalls(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer srv.Close()
	knox, _ := NewKnoxTokenSource(KnoxConfig{User: "u", Password: "s3cret-pw", HTTPClient: srv.Client()})
	c := newTestJobsClient(t, srv, knox.ForHost(srv.Listener.Addr().String()))
	_, err := c.GetJob(context.Background(), "j")
	apiErr, ok := errors.AsType[*APIError](err)
	if !ok || apiErr.Op != "knoxToken" || !errors.Is(err, ErrUnauthorized) || strings.Contains(err.Error(), "s3cret-pw") {
		t.Errorf("err = %v", err)
	}
}

// Every request field of Job, SparkJob and Schedule must be one UpdateJob
// nulls when unset, or a new field would be silently kept by a merging PATCH.
func TestUpdateKeysCoverEveryRequestField(t *testing.T) {
	// Server-owned or response-only fields, the job's name (in the path;
	// spark.name is a swagger-sample oddity), and the fields UpdateJob
	// always sends with a value.
	notNulled := map[string]bool{"created": true, "modified": true, "lastUsed": true, "nextExecution": true,
		"hidden": true, "name": true, "mounts": true, "schedule": true, "enabled": true}
	for _, tc := range []struct {
		typ  reflect.Type
		keys []string
	}{
		{reflect.TypeFor[Job](), jobUpdateKeys},
		{reflect.TypeFor[SparkJob](), sparkUpdateKeys},
		{reflect.TypeFor[Schedule](), scheduleUpdateKeys},
	} {
		for f := range tc.typ.Fields() {
			key, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if notNulled[key] {
				continue
			}
			if !slices.Contains(tc.keys, key) {
				t.Errorf("%s.%s (%q) is not nulled by UpdateJob", tc.typ.Name(), f.Name, key)
			}
		}
	}
}

func TestListJobsStopsWhenTheServerIgnoresOffset(t *testing.T) {
	f, c := startFakeVC(t, 200, `{"jobs":[{"name":"a"},{"name":"b"}],"meta":{"hasNext":true}}`)
	_, err := c.ListJobs(context.Background())
	if !errors.Is(err, ErrMalformedResponse) {
		t.Errorf("err = %v", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.seen) != 2 {
		t.Errorf("%d requests, want 2", len(f.seen))
	}
}

// scriptedVC answers each request with the next scripted response for its
// "METHOD path" (the last one repeats) and records requests in order.
type scriptedVC struct {
	mu      sync.Mutex
	answers map[string][]scripted
	seen    []vcRequest
}

type scripted struct {
	status int
	body   string
}

func (s *scriptedVC) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.seen = append(s.seen, vcRequest{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Clone(), body})
	key := r.Method + " " + strings.TrimPrefix(r.URL.Path, "/dex/api/v1")
	queue := s.answers[key]
	a := scripted{status: http.StatusNotImplemented, body: `{"message":"unscripted ` + key + `"}`}
	if len(queue) > 0 {
		a = queue[0]
		if len(queue) > 1 {
			s.answers[key] = queue[1:]
		}
	}
	s.mu.Unlock()
	w.WriteHeader(a.status)
	_, _ = io.WriteString(w, a.body)
}

func (s *scriptedVC) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, r := range s.seen {
		out = append(out, r.Method+" "+strings.TrimPrefix(r.RawPath, "/dex/api/v1"))
	}
	return out
}

func (s *scriptedVC) body(t *testing.T, method string) []byte {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.seen {
		if r.Method == method {
			return r.Body
		}
	}
	t.Fatalf("no %s request", method)
	return nil
}

// bodies are the bodies of every request of method, in order.
func (s *scriptedVC) bodies(method string) [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out [][]byte
	for _, r := range s.seen {
		if r.Method == method {
			out = append(out, r.Body)
		}
	}
	return out
}

func startScriptedVC(t *testing.T, answers map[string][]scripted) (*scriptedVC, *JobsClient) {
	t.Helper()
	s := &scriptedVC{answers: answers}
	srv := httptest.NewTLSServer(s)
	t.Cleanup(srv.Close)
	return s, newTestJobsClient(t, srv, StaticTokenSource("tok-1"))
}

// The PATCH body removes what the stored job has and the new one does not,
// in a form every PATCH semantics applies.
func TestUpdateJobPatchClearsStaleMembers(t *testing.T) {
	const stored = `{"name":"j","type":"spark","mounts":[{"resourceName":"r"}],"retentionPolicy":"keep_indefinitely",
		"spark":{"file":"a.jar","className":"com.example.Main","args":["--x"],"conf":{"keep":"1","old":"2"},"jars":["dep.jar"],"logLevel":"INFO"},
		"schedule":{"enabled":true,"user":"cde01","cronExpression":"0 * * * *","start":"2024-06-07T19:17:42.315Z"},
		"created":"2024-06-07T11:17:42Z","hidden":false,"defaultVariables":{"a":"b"}}`
	tests := []struct {
		name string
		job  Job
		want map[string]string // dotted member → its JSON in the PATCH body
	}{
		{"a dropped conf key is sent as null inside the conf map",
			Job{Name: "j", Type: "spark", Spark: &SparkJob{File: "a.jar", ClassName: "com.example.Main", Conf: map[string]string{"keep": "1", "new": "3"}}},
			map[string]string{"spark.conf": `{"keep":"1","new":"3","old":null}`}},
		{"a dropped conf is emptied key by key, not nulled whole",
			Job{Name: "j", Type: "spark", Spark: &SparkJob{File: "a.jar"}},
			map[string]string{"spark.conf": `{"keep":null,"old":null}`}},
		{"dropped lists are sent empty, since null keeps them on a struct-decoding server",
			Job{Name: "j", Type: "spark", Spark: &SparkJob{File: "a.jar"}},
			map[string]string{"spark.args": `[]`, "spark.jars": `[]`, "mounts": `[]`}},
		{"dropped scalars are null, never an empty string",
			Job{Name: "j", Type: "spark", Spark: &SparkJob{File: "main.py"}},
			map[string]string{"spark.className": `null`, "spark.logLevel": `null`, "schedule.cronExpression": `null`, "schedule.user": `null`}},
		{"members the stored job lacks stay null as before",
			Job{Name: "j", Type: "spark", Spark: &SparkJob{File: "a.jar"}},
			map[string]string{"spark.pyFiles": `null`, "spark.proxyUser": `null`, "airflow": `null`}},
		{"a dropped schedule is sent disabled",
			Job{Name: "j", Type: "spark", Spark: &SparkJob{File: "a.jar"}},
			map[string]string{"schedule.enabled": `false`}},
		{"server-owned and unmodelled members are not touched",
			Job{Name: "j", Type: "spark", Spark: &SparkJob{File: "a.jar"}},
			map[string]string{"created": ``, "hidden": ``, "defaultVariables": ``}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, c := startScriptedVC(t, map[string][]scripted{
				"GET /jobs/j":   {{200, stored}},
				"PATCH /jobs/j": {{200, ""}},
			})
			// The read-back (when one is made) sees the removals applied.
			s.answers["GET /jobs/j"] = append(s.answers["GET /jobs/j"], scripted{200, `{"name":"j","type":"spark","spark":{"file":"a.jar"}}`})
			if err := c.UpdateJob(context.Background(), tt.job); err != nil {
				t.Fatal(err)
			}
			var doc map[string]any
			if err := json.Unmarshal(s.body(t, http.MethodPatch), &doc); err != nil {
				t.Fatal(err)
			}
			for path, want := range tt.want {
				v, present := memberAt(doc, path)
				if want == "" {
					if present {
						t.Errorf("%s sent as %v, want it left out", path, v)
					}
					continue
				}
				got, _ := json.Marshal(v)
				if !present {
					got = []byte("(absent)")
				}
				jsonEqualOrReport(t, path, got, want)
			}
		})
	}
}

func memberAt(doc map[string]any, path string) (any, bool) {
	var v any = doc
	for key := range strings.SplitSeq(path, ".") {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = obj[key]; !ok {
			return nil, false
		}
	}
	return v, true
}

func jsonEqualOrReport(t *testing.T, what string, got []byte, want string) {
	t.Helper()
	var g, w any
	if json.Unmarshal(got, &g) != nil || json.Unmarshal([]byte(want), &w) != nil || !reflect.DeepEqual(g, w) {
		t.Errorf("%s = %s, want %s", what, got, want)
	}
}

// What UpdateJob does after the PATCH, depending on what the server kept.
func TestUpdateJobVerifiesRemovalsAndRecreatesWhenANullWasIgnored(t *testing.T) {
	const withClass = `{"name":"j","type":"spark","spark":{"file":"a.jar","className":"com.example.Main"}}`
	const withoutClass = `{"name":"j","type":"spark","spark":{"file":"main.py"}}`
	pyJob := Job{Name: "j", Type: "spark", Spark: &SparkJob{File: "main.py"}}
	tests := []struct {
		name          string
		answers       map[string][]scripted
		wantRequests  []string
		wantErr       string // substring; "" = success
		wantTransient bool
	}{
		{"a server that applied the null is left alone",
			map[string][]scripted{"GET /jobs/j": {{200, withClass}, {200, withoutClass}}, "PATCH /jobs/j": {{200, ""}}},
			[]string{"GET /jobs/j", "PATCH /jobs/j", "GET /jobs/j"}, "", false},
		{"a server that kept the class gets the job re-created",
			map[string][]scripted{"GET /jobs/j": {{200, withClass}}, "PATCH /jobs/j": {{200, ""}}, "DELETE /jobs/j": {{204, ""}}, "POST /jobs": {{201, ""}}},
			[]string{"GET /jobs/j", "PATCH /jobs/j", "GET /jobs/j", "DELETE /jobs/j", "POST /jobs"}, "", false},
		{"a job deleted meanwhile is simply created",
			map[string][]scripted{"GET /jobs/j": {{200, withClass}}, "PATCH /jobs/j": {{200, ""}}, "DELETE /jobs/j": {{404, ""}}, "POST /jobs": {{201, ""}}},
			[]string{"GET /jobs/j", "PATCH /jobs/j", "GET /jobs/j", "DELETE /jobs/j", "POST /jobs"}, "", false},
		{"a failed delete stops before the create and says what was kept",
			map[string][]scripted{"GET /jobs/j": {{200, withClass}}, "PATCH /jobs/j": {{200, ""}}, "DELETE /jobs/j": {{503, ""}}},
			[]string{"GET /jobs/j", "PATCH /jobs/j", "GET /jobs/j", "DELETE /jobs/j"}, "kept spark.className", true},
		{"a failed create after the delete restores the previous definition",
			map[string][]scripted{"GET /jobs/j": {{200, withClass}}, "PATCH /jobs/j": {{200, ""}}, "DELETE /jobs/j": {{204, ""}}, "POST /jobs": {{503, ""}, {201, ""}}},
			[]string{"GET /jobs/j", "PATCH /jobs/j", "GET /jobs/j", "DELETE /jobs/j", "POST /jobs", "POST /jobs"}, "its previous definition was restored", true},
		{"only when the restore fails too is the job absent",
			map[string][]scripted{"GET /jobs/j": {{200, withClass}}, "PATCH /jobs/j": {{200, ""}}, "DELETE /jobs/j": {{204, ""}}, "POST /jobs": {{503, ""}, {503, ""}}},
			[]string{"GET /jobs/j", "PATCH /jobs/j", "GET /jobs/j", "DELETE /jobs/j", "POST /jobs", "POST /jobs"}, "absent until created again", true},
		{"a missing job is not found before any write",
			map[string][]scripted{"GET /jobs/j": {{404, `{"message":"job 'j' not found"}`}}},
			[]string{"GET /jobs/j"}, "404", false},
		{"nothing to remove means no read-back",
			map[string][]scripted{"GET /jobs/j": {{200, withoutClass}}, "PATCH /jobs/j": {{200, ""}}},
			[]string{"GET /jobs/j", "PATCH /jobs/j"}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, c := startScriptedVC(t, tt.answers)
			err := c.UpdateJob(context.Background(), pyJob)
			if got := s.requests(); !slices.Equal(got, tt.wantRequests) {
				t.Errorf("requests = %v, want %v", got, tt.wantRequests)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("err = %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			case err != nil && IsTransient(err) != tt.wantTransient:
				t.Errorf("IsTransient(%v) = %v, want %v", err, !tt.wantTransient, tt.wantTransient)
			}
			if slices.Contains(tt.wantRequests, "POST /jobs") {
				// The re-creation sends the job as CreateJob does.
				jsonEqual(t, "POST body", s.body(t, http.MethodPost), `{"name":"j","type":"spark","spark":{"file":"main.py"}}`)
			}
			if posts := s.bodies(http.MethodPost); len(posts) == 2 {
				// The restore sends back the definition read before the PATCH.
				jsonEqual(t, "restoring POST body", posts[1], withClass)
			}
		})
	}
}

// failureRecorder is a WithFailureHook that records what it is told.
type failureRecorder struct {
	mu    sync.Mutex
	calls []string // the methods
	errs  []error
}

func (r *failureRecorder) hook(method string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, method)
	r.errs = append(r.errs, err)
}

// The failure hook is told once of a request that failed for good, with the error the caller
// gets, after the retries; never of an attempt that was retried, nor of a success.
func TestFailureHookIsToldOnceOfARequestThatFailedForGood(t *testing.T) {
	ctx := context.Background()
	getJob := func(c *JobsClient) error { _, err := c.GetJob(ctx, "j"); return err }
	tests := []struct {
		name     string
		failures int // 503 answers first, per method and path
		call     func(c *JobsClient) error
		told     []string
		requests int
	}{
		{"a success", 0, getJob, nil, 1},
		{"a success after retried 503s", DefaultRetryAttempts - 1, getJob, nil, DefaultRetryAttempts},
		{"a 503 at every attempt", 100, getJob, []string{http.MethodGet}, DefaultRetryAttempts},
		{"a POST that is sent once", 100, func(c *JobsClient) error {
			return c.do(ctx, vcCall{op: "runJob", method: http.MethodPost, path: "/jobs/j/run", jsonBody: map[string]any{}}, nil)
		}, []string{http.MethodPost}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &flakyVC{failures: tt.failures, per: map[string]int{}}
			srv := httptest.NewTLSServer(f)
			t.Cleanup(srv.Close)
			var rec failureRecorder
			c, err := NewJobsClient(srv.URL+"/dex/api/v1", StaticTokenSource("tok-1"), srv.Client(),
				WithRetryPolicy(testPolicy(&sleepRecorder{})), WithFailureHook(rec.hook))
			if err != nil {
				t.Fatal(err)
			}
			err = tt.call(c)
			if f.count() != tt.requests {
				t.Errorf("%d requests, want %d", f.count(), tt.requests)
			}
			if !slices.Equal(rec.calls, tt.told) {
				t.Fatalf("hook told of %v, want %v", rec.calls, tt.told)
			}
			if tt.told == nil {
				if err != nil {
					t.Errorf("err = %v", err)
				}
				return
			}
			if apiStatus(err) != http.StatusServiceUnavailable || !errors.Is(rec.errs[0], err) {
				t.Errorf("hook told of %v, the caller got %v: want the same final 503", rec.errs[0], err)
			}
		})
	}
}

// The hook is told of every failure, whatever it means to the caller (a missing job included):
// telling a stale virtual cluster from a missing object is the caller's business.
func TestFailureHookIsToldOfAnswersThatAreNotTransient(t *testing.T) {
	srv := httptest.NewTLSServer(&fakeVC{status: http.StatusNotFound, body: `{"message":"job not found"}`})
	t.Cleanup(srv.Close)
	var rec failureRecorder
	c, err := NewJobsClient(srv.URL+"/dex/api/v1", StaticTokenSource("tok-1"), srv.Client(), WithFailureHook(rec.hook))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.GetJob(context.Background(), "nope")
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v", err)
	}
	if !slices.Equal(rec.calls, []string{http.MethodGet}) || !errors.Is(rec.errs[0], ErrNotFound) {
		t.Errorf("hook told of %v %v, want the GET's 404", rec.calls, rec.errs)
	}
}
