package e2e_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	failurepb "go.temporal.io/api/failure/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/proxy"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/witboost-community/cde-spark-provisioner/api"
	"github.com/witboost-community/cde-spark-provisioner/artifacts"
	"github.com/witboost-community/cde-spark-provisioner/cde/cdesim"
	"github.com/witboost-community/cde-spark-provisioner/internal/app"
	"github.com/witboost-community/cde-spark-provisioner/internal/s3local"
	"github.com/witboost-community/cde-spark-provisioner/internal/telemetry"
	"github.com/witboost-community/cde-spark-provisioner/internal/testsupport"
)

// credential is a secret the scan looks for. Findings name it, never quote it.
type credential struct{ name, value string }

// secretForm is one way a credential can be written down.
type secretForm struct{ credential, form, text string }

// minSecretLength keeps the scan from finding a credential by chance: every credential here is
// longer.
const minSecretLength = 12

// secretScan finds credentials in text, in every form a log line, a JSON payload, a span
// attribute or a metric label could give them: as they are, JSON- or Go-quoted, base64 (standard
// and URL alphabets, so also inside a longer base64 text when aligned, and as a []byte field
// marshalled to JSON), percent-encoded, and, for a multi-line credential (a PEM key), each of its
// lines on its own.
type secretScan struct{ forms []secretForm }

func newSecretScan(t *testing.T, creds ...credential) *secretScan {
	t.Helper()
	s := &secretScan{}
	seen := map[string]bool{}
	for _, c := range creds {
		require.GreaterOrEqual(t, len(c.value), minSecretLength, "the %s is too short to be scanned for", c.name)
		add := func(form, text string) {
			if len(text) >= minSecretLength && !seen[text] {
				seen[text] = true
				s.forms = append(s.forms, secretForm{c.name, form, text})
			}
		}
		add("as is", c.value)
		add("JSON-escaped", jsonEscaped(c.value, true))
		add("JSON-escaped", jsonEscaped(c.value, false))
		quoted := strings.TrimSuffix(strings.TrimPrefix(strconv.Quote(c.value), `"`), `"`)
		add("Go-quoted", quoted)
		add("Go-quoted, then JSON-escaped", jsonEscaped(quoted, true)) // an error's %q in a JSON log line
		add("Go-quoted, then JSON-escaped", jsonEscaped(quoted, false))
		add("base64", base64.RawStdEncoding.EncodeToString([]byte(c.value)))
		add("base64url", base64.RawURLEncoding.EncodeToString([]byte(c.value)))
		add("percent-encoded", url.QueryEscape(c.value))
		if strings.Contains(c.value, "\n") {
			for _, line := range strings.Split(c.value, "\n") {
				if line = strings.TrimSpace(line); !strings.HasPrefix(line, "-----") {
					add("one of its lines", line)
				}
			}
		}
	}
	return s
}

func jsonEscaped(v string, html bool) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(html)
	_ = enc.Encode(v)
	return strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(b.String(), `"`), "\n"), `"`)
}

// findings lists where text holds a credential, each with its surroundings, the credential
// masked.
func (s *secretScan) findings(text string) []string {
	var out []string
	for _, f := range s.forms {
		if i := strings.Index(text, f.text); i >= 0 {
			from, to := max(0, i-60), min(len(text), i+len(f.text)+60)
			context := text[from:to]
			for _, other := range s.forms { // the failure message must not print a credential either
				context = strings.ReplaceAll(context, other.text, "<"+other.credential+">")
			}
			out = append(out, fmt.Sprintf("the %s (%s) at byte %d: …%q…", f.credential, f.form, i, context))
		}
	}
	return out
}

// check fails t for each credential found in text; where names the text.
func (s *secretScan) check(t *testing.T, where, text string) {
	t.Helper()
	for _, f := range s.findings(text) {
		t.Errorf("%s holds %s", where, f)
	}
}

// historyText is the text of a run's history as a reader of it (the Web UI, the CLI, an export)
// could see it: every event as JSON, and the data of every payload as it is stored (a JSON
// payload's text, a binary payload's bytes), since JSON renders those as base64.
func historyText(ctx context.Context, t *testing.T, tc client.Client, id, runID string) string {
	t.Helper()
	var b strings.Builder
	iter := tc.GetWorkflowHistory(ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		ev, err := iter.Next()
		require.NoError(t, err)
		b.WriteString(eventText(ctx, t, ev))
	}
	return b.String()
}

func eventText(ctx context.Context, t *testing.T, ev *historypb.HistoryEvent) string {
	t.Helper()
	var b strings.Builder
	j, err := temporalproto.CustomJSONMarshalOptions{}.Marshal(ev)
	require.NoError(t, err)
	b.Write(j)
	b.WriteByte('\n')
	require.NoError(t, proxy.VisitPayloads(ctx, ev, proxy.VisitPayloadsOptions{
		Visitor: func(_ *proxy.VisitPayloadsContext, ps []*commonpb.Payload) ([]*commonpb.Payload, error) {
			for _, p := range ps {
				for k, v := range p.GetMetadata() {
					fmt.Fprintf(&b, "%s=%s\n", k, v)
				}
				b.Write(p.GetData())
				b.WriteByte('\n')
			}
			return ps, nil
		},
	}))
	return b.String()
}

// spansText is everything an exported span carries as text: names, attributes, events, links,
// status and resource.
func spansText(spans tracetest.SpanStubs) string {
	var b strings.Builder
	attrs := func(kvs []attribute.KeyValue) {
		for _, kv := range kvs {
			fmt.Fprintf(&b, " %s=%s", kv.Key, kv.Value.Emit())
		}
	}
	for _, s := range spans {
		fmt.Fprintf(&b, "span %q status %s %q", s.Name, s.Status.Code, s.Status.Description)
		attrs(s.Attributes)
		for _, e := range s.Events {
			fmt.Fprintf(&b, " event %q", e.Name)
			attrs(e.Attributes)
		}
		for _, l := range s.Links {
			b.WriteString(" link")
			attrs(l.Attributes)
		}
		if s.Resource != nil {
			b.WriteString(" resource")
			attrs(s.Resource.Attributes())
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// basicCredential is what an HTTP Basic Authorization header carries for user and password.
func basicCredential(user, password string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
}

// The scan is only worth something if it can fail: each credential, planted in a sample of each
// kind of text the end-to-end scan reads, is found.
func TestTheSecretScanFindsAPlantedSecret(t *testing.T) {
	ctx := context.Background()
	pem := "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIHQx2tq8b9cD3F0rVZpP7uQm5aW1nS4kL9yT2eJ6hXcA\n-----END PRIVATE KEY-----\n"
	password := `pa"ss<w>rd&1234\x`
	creds := []credential{
		{"CDP private key", cdesim.DemoPrivateKey},
		{"PEM private key", pem},
		{"password", password},
		{"Basic credential", basicCredential("srv_user", password)},
		{"Knox token", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"},
	}
	scan := newSecretScan(t, creds...)

	plant := map[string]func(v string) string{
		"a JSON log attribute": func(v string) string {
			var b bytes.Buffer
			slog.New(slog.NewJSONHandler(&b, nil)).Info("calling", "header", v)
			return b.String()
		},
		"a logged error quoting it": func(v string) string {
			var b bytes.Buffer
			slog.New(slog.NewJSONHandler(&b, nil)).Error("failed", "error", fmt.Errorf("refused %q", v))
			return b.String()
		},
		"a logged []byte": func(v string) string {
			var b bytes.Buffer
			slog.New(slog.NewJSONHandler(&b, nil)).Info("body", "raw", []byte(v))
			return b.String()
		},
		"an activity input in the history": func(v string) string {
			in, err := converter.GetDefaultDataConverter().ToPayloads(struct{ Key string }{v})
			require.NoError(t, err)
			return eventText(ctx, t, &historypb.HistoryEvent{EventType: enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
				Attributes: &historypb.HistoryEvent_ActivityTaskScheduledEventAttributes{ActivityTaskScheduledEventAttributes: &historypb.ActivityTaskScheduledEventAttributes{Input: in}}})
		},
		"a binary payload in the history": func(v string) string {
			in, err := converter.GetDefaultDataConverter().ToPayloads([]byte(v))
			require.NoError(t, err)
			return eventText(ctx, t, &historypb.HistoryEvent{EventType: enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
				Attributes: &historypb.HistoryEvent_ActivityTaskCompletedEventAttributes{ActivityTaskCompletedEventAttributes: &historypb.ActivityTaskCompletedEventAttributes{Result: in}}})
		},
		"a failure message in the history": func(v string) string {
			return eventText(ctx, t, &historypb.HistoryEvent{EventType: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
				Attributes: &historypb.HistoryEvent_WorkflowExecutionFailedEventAttributes{WorkflowExecutionFailedEventAttributes: &historypb.WorkflowExecutionFailedEventAttributes{
					Failure: &failurepb.Failure{Message: "step failed", Cause: &failurepb.Failure{Message: "401: " + v}}}}})
		},
		"a span": func(v string) string {
			spans := tracetest.NewInMemoryExporter()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
			_, span := tp.Tracer("t").Start(ctx, "call", trace.WithAttributes(attribute.String("http.url", "https://x/?p="+v)))
			span.End()
			return spansText(spans.GetSpans())
		},
		"a span event": func(v string) string {
			spans := tracetest.NewInMemoryExporter()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
			_, span := tp.Tracer("t").Start(ctx, "call")
			span.RecordError(fmt.Errorf("refused %s", v))
			span.SetStatus(codes.Error, "refused")
			span.End()
			return spansText(spans.GetSpans())
		},
		"a metric label": func(v string) string {
			escaped := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(v)
			return `cde_api_requests_total{route="` + escaped + `"} 1` + "\n"
		},
	}
	for _, c := range creds {
		for where, f := range plant {
			assert.NotEmpty(t, scan.findings("before "+f(c.value)+" after"), "the %s planted in %s is not found", c.name, where)
		}
	}
	// The Basic form of a password is found as the credential it is.
	assert.NotEmpty(t, scan.findings("Authorization: Basic "+basicCredential("srv_user", password)))

	// Text of a run without any credential gives no finding.
	var clean bytes.Buffer
	slog.New(slog.NewJSONHandler(&clean, nil)).Info("request", "method", "POST", "route", "/v1/provision", "status", 200, "user", "srv_user")
	assert.Empty(t, scan.findings(clean.String()+plant["a metric label"]("/v1/provision")))
}

// credentialRecorder is the worker's transport to CDP, Knox and CDE: it records the credentials
// the worker sends (the signed x-altus-auth header of every control-plane call, the Authorization
// header of every Knox and jobs-API call) and the Knox tokens it is issued, for the scan to look
// for.
type credentialRecorder struct {
	base http.RoundTripper

	mu            sync.Mutex
	altus         []string
	authorization []string
	knoxTokens    []string
}

func (c *credentialRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	c.mu.Lock()
	if v := req.Header.Get("x-altus-auth"); v != "" && !slices.Contains(c.altus, v) {
		c.altus = append(c.altus, v)
	}
	if v := req.Header.Get("Authorization"); v != "" && !slices.Contains(c.authorization, v) {
		c.authorization = append(c.authorization, v)
	}
	c.mu.Unlock()
	resp, err := c.base.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(req.URL.Path, "/knoxtoken/") {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	var issued struct {
		AccessToken string `json:"access_token"`
	}
	if json.Unmarshal(body, &issued) == nil && issued.AccessToken != "" {
		c.mu.Lock()
		c.knoxTokens = append(c.knoxTokens, issued.AccessToken)
		c.mu.Unlock()
	}
	return resp, nil
}

// credentials returns what the worker sent and was issued: x-altus-auth values, Authorization
// values, Knox tokens.
func (c *credentialRecorder) credentials() (altus, authorization, knox []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.altus), slices.Clone(c.authorization), slices.Clone(c.knoxTokens)
}

// runRecorder is the API's Temporal client, recording every run the API starts (or attaches to).
type runRecorder struct {
	client.Client
	mu   sync.Mutex
	runs [][2]string // workflow id, run id
}

func (r *runRecorder) ExecuteWorkflow(ctx context.Context, opts client.StartWorkflowOptions, wf any, args ...any) (client.WorkflowRun, error) {
	run, err := r.Client.ExecuteWorkflow(ctx, opts, wf, args...)
	if err == nil {
		r.mu.Lock()
		if key := [2]string{run.GetID(), run.GetRunID()}; !slices.Contains(r.runs, key) {
			r.runs = append(r.runs, key)
		}
		r.mu.Unlock()
	}
	return run, err
}

func (r *runRecorder) started() [][2]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.runs)
}

// process is one process of the provisioner as it runs in production: its own JSON logs, its own
// telemetry (spans kept in memory, /metrics) and its own Temporal client.
type process struct {
	logs  *testsupport.SyncBuffer
	log   *slog.Logger
	tel   *telemetry.Telemetry
	spans *tracetest.InMemoryExporter
	tc    client.Client
}

// startProcess sets the process up; the cleanup registered here runs after the test's own,
// which stop what runs on it.
func startProcess(ctx context.Context, t *testing.T, name string) *process {
	t.Helper()
	p := &process{logs: &testsupport.SyncBuffer{}, spans: tracetest.NewInMemoryExporter()}
	p.log = app.NewLogger(app.LogConfig{Level: "debug"}, p.logs)
	var err error
	p.tel, err = telemetry.Setup(ctx, telemetry.Options{ServiceName: "e2e-secrets-" + name, SpanExporter: p.spans, Logger: p.log})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.tel.Shutdown(context.Background()) })
	p.tc, err = app.DialTemporalWith(ctx, app.TemporalConfig{Address: st.temporalAddr, Namespace: "default"}, p.log, 30*time.Second, p.tel)
	require.NoError(t, err)
	t.Cleanup(p.tc.Close)
	return p
}

// No credential reaches what operators, the Coordinator or anyone with access to Temporal can
// read. A worker and an API of their own run as in production, with every credential set (the
// CDP key, the workload user's password, S3 keys, the API's bearer token), and do a validation, a
// provision, a provision refused by CDE and an unprovision; then the scan reads both processes'
// logs, /metrics and exported spans, the histories of every run, and the API's answers, for every
// credential, the ones the worker derived and sent included: the Basic form of the password,
// every Knox token it was issued and every signed x-altus-auth header.
func TestNoCredentialInLogsHistoriesMetricsSpansOrAnswers(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	worker, apiProc := startProcess(ctx, t, "worker"), startProcess(ctx, t, "api")
	var running sync.WaitGroup
	t.Cleanup(func() { // before the processes' own cleanups
		cancel()
		running.Wait()
	})

	// The worker, on a task queue of its own, with the local S3's keys.
	transport := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: st.sim.CertPool()}}
	t.Cleanup(transport.CloseIdleConnections)
	recorder := &credentialRecorder{base: transport}
	workerCfg := st.workerCf
	workerCfg.Temporal.TaskQueue = unique("e2e-secrets")
	acts, err := app.NewActivitiesWith(ctx, workerCfg, recorder, worker.tel,
		artifacts.WithEndpoint(st.s3.URL()), artifacts.WithRegion(s3local.Region),
		artifacts.WithStaticCredentials(s3local.AccessKeyID, s3local.SecretAccessKey, ""))
	require.NoError(t, err)
	running.Go(func() {
		assert.NoError(t, app.RunWorker(ctx, workerCfg, worker.tc, acts, worker.log))
	})

	// The API, as cmd/api runs it, with a bearer token.
	token := make([]byte, 32)
	_, _ = rand.Read(token)
	apiToken := hex.EncodeToString(token)
	tokenFile := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(apiToken+"\n"), 0o600))
	runs := &runRecorder{Client: apiProc.tc}
	apiCfg := app.APIConfig{
		Temporal:        app.TemporalConfig{Namespace: "default", TaskQueue: workerCfg.Temporal.TaskQueue, SearchAttributes: true},
		SyncTimeout:     45 * time.Second,
		DedupeWindow:    time.Minute,
		MaxRequestBytes: api.DefaultMaxBodyBytes,
		ShutdownTimeout: 5 * time.Second,
		AuthTokenFile:   tokenFile,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	running.Go(func() {
		assert.NoError(t, app.RunAPIWith(ctx, apiCfg, runs, ln, apiProc.log, apiProc.tel))
	})
	base := "http://" + ln.Addr().String()

	var answers strings.Builder
	send := func(method, path, authorization string, body any) answer {
		t.Helper()
		var rd io.Reader
		if body != nil {
			rd = strings.NewReader(mustJSON(t, body))
		}
		req, err := http.NewRequest(method, base+path, rd)
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		if authorization != "" {
			req.Header.Set("Authorization", authorization)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		fmt.Fprintf(&answers, "%s %s: %d %v %s\n", method, path, resp.StatusCode, resp.Header, b)
		return answer{status: resp.StatusCode, contentType: resp.Header.Get("Content-Type"), body: b}
	}
	bearer := "Bearer " + apiToken

	name := unique("secrets")
	text := sparkJar(t, name)
	// Refused calls: none, a wrong token, and the right token under another scheme. The refusal
	// is logged, never with what was presented.
	for _, authorization := range []string{"", "Bearer " + apiToken[1:] + "0", "Token " + apiToken} {
		a := send(http.MethodPost, "/v1/provision", authorization, request(text))
		require.Equal(t, http.StatusUnauthorized, a.status, "%s", a.body)
	}

	a := send(http.MethodPost, "/v1/validate", bearer, request(text))
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	assert.Contains(t, string(a.body), `"valid":true`)

	a = send(http.MethodPost, "/v1/provision", bearer, request(text))
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)

	// A provision that CDE refuses: the failure travels through the activity's error, the
	// workflow's failure, the logs and the answer.
	st.sim.FailNext("PATCH /dex/api/v1/jobs/"+jobName(name), 1, cdesim.Failure{Status: http.StatusBadRequest, Body: `{"message":"spark.conf: refused"}`})
	t.Cleanup(st.sim.ClearFaults)
	a = send(http.MethodPost, "/v1/provision", bearer, request(strings.Replace(text, "numExecutors: 2", "numExecutors: 3", 1)))
	require.Equal(t, http.StatusInternalServerError, a.status, "%s", a.body)
	assert.Contains(t, string(a.body), "spark.conf: refused")

	a = send(http.MethodPost, "/v1/unprovision", bearer, request(text))
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)

	// What the worker sent and was issued, so the scan looks for the credentials derived from
	// the configured ones too.
	altus, authorization, knox := recorder.credentials()
	require.NotEmpty(t, altus, "the worker signed control-plane calls")
	require.NotEmpty(t, knox, "the worker was issued Knox tokens")
	basic := basicCredential(cdesim.DemoUser, cdesim.DemoPassword)
	assert.Contains(t, authorization, "Basic "+basic, "the Basic form scanned for is the one the worker sent")
	seed, err := base64.StdEncoding.DecodeString(cdesim.DemoPrivateKey)
	require.NoError(t, err)
	creds := []credential{
		{"CDP private key", cdesim.DemoPrivateKey},
		{"CDP private key (hex)", hex.EncodeToString(seed)},
		{"workload password", cdesim.DemoPassword},
		{"workload Basic credential", basic},
		{"S3 secret access key", s3local.SecretAccessKey},
		{"API bearer token", apiToken},
	}
	for _, v := range altus {
		_, signature, _ := strings.Cut(v, ".")
		creds = append(creds, credential{"x-altus-auth header", v}, credential{"x-altus-auth signature", signature})
	}
	for _, v := range knox {
		creds = append(creds, credential{"Knox token", v}, credential{"Knox token signature", v[strings.LastIndex(v, ".")+1:]})
	}
	for _, v := range authorization {
		_, cred, _ := strings.Cut(v, " ")
		creds = append(creds, credential{"Authorization header the worker sent", cred})
	}
	scan := newSecretScan(t, creds...)

	// The histories of every run the API started.
	started := runs.started()
	require.Len(t, started, 4, "a validation, two provisions and an unprovision")
	for _, r := range started {
		history := historyText(ctx, t, apiProc.tc, r[0], r[1])
		require.Contains(t, history, "WORKFLOW_EXECUTION_", "the history of %s was read", r[0])
		scan.check(t, "the history of "+r[0]+" run "+r[1], history)
	}

	// /metrics of both processes, as a scraper reads them.
	apiMetrics := send(http.MethodGet, "/metrics", "", nil)
	require.Equal(t, http.StatusOK, apiMetrics.status)
	require.Contains(t, string(apiMetrics.body), "cde_api_requests_total")
	scan.check(t, "the API's /metrics", string(apiMetrics.body))
	workerMetrics := httptest.NewRecorder()
	worker.tel.MetricsHandler().ServeHTTP(workerMetrics, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Contains(t, workerMetrics.Body.String(), "cde_outgoing_requests_total")
	scan.check(t, "the worker's /metrics", workerMetrics.Body.String())

	// The spans both processes exported.
	for _, p := range []struct {
		name string
		proc *process
	}{{"API", apiProc}, {"worker", worker}} {
		require.NoError(t, p.proc.tel.ForceFlush(ctx))
		spans := p.proc.spans.GetSpans()
		require.NotEmpty(t, spans, "the %s exported spans", p.name)
		scan.check(t, "the spans of the "+p.name, spansText(spans))
	}

	// The logs of both processes, and every answer of the API.
	require.Contains(t, apiProc.logs.String(), "call refused", "the API logged the refusals")
	require.Contains(t, worker.logs.String(), `"ActivityType"`, "the worker logged its activities")
	scan.check(t, "the API's log", apiProc.logs.String())
	scan.check(t, "the worker's log", worker.logs.String())
	scan.check(t, "the API's answers", answers.String())
}
