package cde

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// listPageSize is the page size of GET /jobs (witboost's default too).
const listPageSize = 100

// maxListPages stops a paginated listing whose server keeps saying hasNext.
const maxListPages = 10000

// JobsClient calls the jobs API of one CDE virtual cluster with bearer
// tokens from a TokenSource. A 401 invalidates the token and the request is
// sent once more with a fresh one. A request that failed transiently is
// sent again according to its RetryPolicy when that is safe: GET, PUT,
// PATCH (always a whole job) and DELETE (a 404 on delete is the caller's
// success), the creations of a job and of a resource (POST; their callers
// take a 409 as "an earlier attempt created it"), and a body only when it
// can be produced again (JSON, a seekable upload, UploadFileFrom's open).
// It is safe for concurrent use.
type JobsClient struct {
	base   string // vcApiUrl without trailing slash
	tokens TokenSource
	hc     *http.Client // every request but file transfers: its Timeout bounds each one
	// transfer is hc without its Timeout, for uploads, whose duration
	// depends on their size: the caller's context bounds them, and the
	// transport's ResponseHeaderTimeout the wait for the answer.
	transfer *http.Client
	now      func() time.Time
	retry    RetryPolicy
	// failed, when set, is told of every request that failed for good (after its retries).
	failed func(method string, err error)
}

// JobsOption configures a JobsClient.
type JobsOption func(*JobsClient)

// WithRetryPolicy sets how requests that failed transiently are repeated
// (the default policy otherwise; NoRetry turns it off).
func WithRetryPolicy(p RetryPolicy) JobsOption { return func(c *JobsClient) { c.retry = p } }

// WithTransferClient sends file uploads with hc instead of the client's
// own (without its Timeout either way; hc's Timeout, if any, is dropped).
// Uploads can then go over connections of their own, e.g. one HTTP/1.1
// connection each instead of streams of the one HTTP/2 connection that the
// API calls share.
func WithTransferClient(hc *http.Client) JobsOption {
	return func(c *JobsClient) {
		if hc != nil {
			untimed := *hc
			untimed.Timeout = 0
			c.transfer = &untimed
		}
	}
}

// WithFailureHook has f called with the method and the error of every
// request that failed for good, after its retries: the caller can tell from
// it that what it knows of the virtual cluster (its URL, that it runs) may be
// stale. f must be quick and safe for concurrent use.
func WithFailureHook(f func(method string, err error)) JobsOption {
	return func(c *JobsClient) { c.failed = f }
}

// NewJobsClient returns a client of the jobs API at vcAPIURL (the
// VcDescription's VcAPIURL, e.g. https://xyz.cde-….cloudera.site/dex/api/v1).
// httpClient nil means a client on http.DefaultTransport (system roots and
// SSL_CERT_FILE). Its Timeout, if any, bounds each request (each attempt)
// except file uploads, which are sent on the same transport without it:
// they are bounded by the caller's context and by the transport's
// ResponseHeaderTimeout.
func NewJobsClient(vcAPIURL string, tokens TokenSource, httpClient *http.Client, opts ...JobsOption) (*JobsClient, error) {
	u, err := parseHTTPSBase("jobs API URL", vcAPIURL)
	if err != nil {
		return nil, err
	}
	if tokens == nil {
		return nil, errors.New("cde: jobs client needs a token source")
	}
	hc := defaultHTTPClient(httpClient)
	transfer := hc
	if hc.Timeout > 0 {
		untimed := *hc
		untimed.Timeout = 0
		transfer = &untimed
	}
	c := &JobsClient{base: u.String(), tokens: tokens, hc: hc, transfer: transfer, now: time.Now}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// String names the client by its jobs API URL.
func (c *JobsClient) String() string { return "cde.JobsClient{" + c.base + "}" }

// GoString keeps %#v from walking into the token source.
func (c *JobsClient) GoString() string { return c.String() }

// Format prints the redacted String form for every verb, so that no verb,
// not even a wrong one, makes fmt print the fields.
func (c *JobsClient) Format(f fmt.State, verb rune) { formatRedacted(f, verb, c.String()) }

// vcCall is one request of the jobs API.
type vcCall struct {
	op, method  string
	path        string // escaped, relative to the base, starting with "/"
	query       url.Values
	jsonBody    any // sent as JSON when not nil
	contentType string
	// newBody, when set, builds the streamed body of an attempt; rewind
	// prepares the next attempt and fails when the stream cannot be
	// replayed. A nil rewind means the body can be sent only once: neither
	// a 401 nor a transient failure is then retried.
	newBody       func() io.Reader
	rewind        func() error
	contentLength int64 // of newBody's reader; -1 = unknown (chunked)
	// raw, when set, receives the 2xx body as it is instead of JSON decoding (downloads).
	raw *[]byte
	// createSafe marks a POST that may be sent again: it creates a named
	// object, and its callers take a 409 (an earlier attempt created it)
	// as the object being there. Any other POST is sent once.
	createSafe bool
	// transfer marks a file upload: no per-request timeout (see JobsClient).
	transfer bool
}

// retryable says whether call may be sent again after a transient failure.
func (call vcCall) retryable() bool {
	if call.newBody != nil && call.rewind == nil {
		return false
	}
	return idempotentMethod(call.method) || (call.method == http.MethodPost && call.createSafe)
}

// do sends call and decodes a 2xx answer into out (an empty body leaves
// out untouched). On a 401 it invalidates the token and retries once; a
// transient failure is retried according to c.retry when call.retryable.
func (c *JobsClient) do(ctx context.Context, call vcCall, out any) error {
	var payload []byte
	if call.jsonBody != nil {
		var err error
		if payload, err = json.Marshal(call.jsonBody); err != nil {
			return fmt.Errorf("cde: %s: encode request: %w", call.op, err)
		}
	}
	var (
		sent      []string // tokens of this call's attempts, kept out of error text
		refreshed bool     // a 401 was answered with a new token already
	)
	var prepare func() error
	if call.newBody != nil {
		prepare = call.rewind
	}
	err := c.retry.run(ctx, call.retryable(), func() error {
		for {
			unauthorized, err := c.send(ctx, call, payload, &sent, out)
			if !unauthorized || refreshed {
				return err
			}
			refreshed = true
			if call.newBody != nil && (call.rewind == nil || call.rewind() != nil) {
				return err
			}
		}
	}, prepare)
	if err != nil && c.failed != nil {
		c.failed(call.method, err)
	}
	return err
}

// send is one request of do. unauthorized says the answer was a 401 (the
// token is invalidated then; err is the *APIError).
func (c *JobsClient) send(ctx context.Context, call vcCall, payload []byte, sent *[]string, out any) (unauthorized bool, err error) {
	token, err := c.tokens.Token(ctx)
	if err != nil {
		return false, err // already says knoxToken and carries its status
	}
	*sent = append(*sent, token)
	var body io.Reader
	contentLength := int64(-1)
	switch {
	case call.newBody != nil:
		body, contentLength = call.newBody(), call.contentLength
	case payload != nil:
		body, contentLength = bytes.NewReader(payload), int64(len(payload))
	}
	target := c.base + call.path
	if len(call.query) > 0 {
		target += "?" + call.query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, call.method, target, body)
	if err != nil {
		return false, fmt.Errorf("cde: %s: %w", call.op, err)
	}
	if body != nil {
		req.ContentLength = contentLength
		if contentLength == 0 {
			req.Body = http.NoBody
		}
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if call.raw != nil {
		req.Header.Set("Accept", "application/octet-stream")
	} else {
		req.Header.Set("Accept", "application/json")
	}
	switch {
	case call.contentType != "":
		req.Header.Set("Content-Type", call.contentType)
	case payload != nil:
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.hc
	if call.transfer {
		hc = c.transfer
	}
	resp, err := hc.Do(req)
	if err != nil {
		stopReading(body)
		return false, fmt.Errorf("cde: %s: %w", call.op, err)
	}
	respBody, err := readBody(resp)
	drain(resp.Body)
	stopReading(body)
	if err != nil {
		return false, fmt.Errorf("cde: %s: read response: %w", call.op, err)
	}
	if resp.StatusCode == http.StatusUnauthorized {
		c.tokens.Invalidate(token)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode == http.StatusUnauthorized,
			newAPIError(call.op, call.method, req.URL.EscapedPath(), resp, respBody, c.now(), (*sent)...)
	}
	if call.raw != nil {
		*call.raw = respBody
		return false, nil
	}
	if err := decodeJSON(respBody, out); err != nil {
		return false, fmt.Errorf("cde: %s: %w", call.op, err)
	}
	return false, nil
}

// stopReading ends an attempt's use of a streamed body: the transport may
// still be reading it after Do returns (a server can answer before reading
// the whole body), and the content must not be read concurrently with a
// rewind, nor after UploadFile has returned to a caller who closes it.
func stopReading(body io.Reader) {
	if g, ok := body.(*guardedReader); ok {
		g.stop()
	}
}

// ListJobs lists every job of the virtual cluster, following pages
// (limit/offset while meta.hasNext). filters are the API's filter
// expressions, e.g. "name[eq]my-job", sent as repeated filter parameters.
func (c *JobsClient) ListJobs(ctx context.Context, filters ...string) ([]Job, error) {
	var all, lastPage []Job
	offset := 0
	for range maxListPages {
		q := url.Values{"limit": {strconv.Itoa(listPageSize)}, "offset": {strconv.Itoa(offset)}}
		if len(filters) > 0 {
			q["filter"] = filters
		}
		var page listJobsResponse
		if err := c.do(ctx, vcCall{op: "listJobs", method: http.MethodGet, path: "/jobs", query: q}, &page); err != nil {
			return nil, err
		}
		if offset > 0 && len(page.Jobs) > 0 && page.Jobs[0].Name == all[offset-len(lastPage)].Name {
			return nil, fmt.Errorf("cde: listJobs: the server returned the same page for offset %d: %w", offset, ErrMalformedResponse)
		}
		all = append(all, page.Jobs...)
		if !page.Meta.HasNext || len(page.Jobs) == 0 {
			return all, nil
		}
		lastPage = page.Jobs
		offset += len(page.Jobs)
	}
	return nil, fmt.Errorf("cde: listJobs: more than %d pages", maxListPages)
}

// GetJob returns the job name; a missing job is an *APIError matching
// ErrNotFound.
func (c *JobsClient) GetJob(ctx context.Context, name string) (*Job, error) {
	p, err := escapeName("job name", name)
	if err != nil {
		return nil, err
	}
	var job Job
	if err := c.do(ctx, vcCall{op: "getJob", method: http.MethodGet, path: "/jobs/" + p}, &job); err != nil {
		return nil, err
	}
	return &job, nil
}

// CreateJob creates job (POST /jobs). An existing name is expected to give
// an *APIError matching ErrConflict (409; undocumented).
func (c *JobsClient) CreateJob(ctx context.Context, job Job) error {
	if _, err := escapeName("job name", job.Name); err != nil {
		return err
	}
	return c.do(ctx, vcCall{op: "createJob", method: http.MethodPost, path: "/jobs", jsonBody: job, createSafe: true}, nil)
}

// UpdateJob makes the stored job name equal job (PATCH /jobs/{job.Name}).
// A missing job is an *APIError matching ErrNotFound.
//
// How CDE applies a PATCH is undocumented, and the three plausible servers
// need different bodies to remove something:
//
//   - an RFC 7386 merge keeps every member absent from the body, including
//     keys of spark.conf, and removes a member sent as null;
//   - a struct-decoding ("fieldwise") server keeps a member sent as null or
//     absent, replaces a map or list sent whole, and cannot clear a scalar
//     at all;
//   - a replacing server stores the body as the job.
//
// So UpdateJob first reads the current job and sends one body that every
// one of them turns into job: the whole job, every unset optional field as
// null (witboost's shape), mounts [] when nil, a nil schedule as
// {"enabled":false}, and, for what the stored job has and job does not, a
// null for each stale key inside spark.conf (the map itself is sent, so a
// fieldwise server replaces it and a merging one deletes the keys) and []
// for a stale list. Empty strings are never sent for a removal: CDE may
// reject them ("" is not a resource, a class or a cron expression).
//
// What remains is a stale scalar or object that only null can remove,
// which a fieldwise server ignores. For the members whose stale value
// changes what runs (spark.className, spark.pythonEnvResourceName,
// spark.proxyUser, schedule.cronExpression, schedule.end, a spark or
// airflow object of the other job type), UpdateJob reads the job back after
// the PATCH and, if the server kept one, replaces the job: DELETE, then POST
// of job. That is the only wire-level way to clear such a field there; it
// costs a moment without the job and a new creation time, and happens only
// on a server that ignored the null. Members a server may fill with
// defaults of its own (schedule.user and schedule.start, resource sizes,
// logLevel, the schedule flags) are not verified, since a default read back
// would trigger a re-creation on every update; under a fieldwise server an
// omitted one keeps its previous value. Members the Job type does not model
// are left to the server.
//
// Those members are the only reason a job is ever deleted and created again,
// and only on such a server. If the POST of the re-creation fails, the job's
// previous definition is posted back, so the live job keeps running as it was
// (its run history is lost with the DELETE); the error says what happened.
// Only if that fails too is the job absent until an upsert creates it.
func (c *JobsClient) UpdateJob(ctx context.Context, job Job) error {
	const op = "updateJob"
	p, err := escapeName("job name", job.Name)
	if err != nil {
		return err
	}
	doc, err := updateDocument(job)
	if err != nil {
		return fmt.Errorf("cde: %s: %w", op, err)
	}
	current, err := c.jobDocument(ctx, op, p)
	if err != nil {
		return err
	}
	removed := clearStale(doc, current)
	if err := c.do(ctx, vcCall{op: op, method: http.MethodPatch, path: "/jobs/" + p, jsonBody: doc}, nil); err != nil {
		return err
	}
	if len(removed) == 0 {
		return nil
	}
	after, err := c.jobDocument(ctx, op, p)
	if err != nil {
		return err
	}
	var kept []string
	for _, path := range removed {
		if isSet(lookupMember(after, path)) {
			kept = append(kept, path)
		}
	}
	if len(kept) == 0 {
		return nil
	}
	what := strings.Join(kept, ", ")
	if err := c.DeleteJob(ctx, job.Name); err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("cde: %s: the server kept %s after PATCH, and deleting the job to recreate it failed: %w", op, what, err)
	}
	createErr := c.CreateJob(ctx, job)
	if createErr == nil {
		return nil
	}
	if errors.Is(createErr, ErrConflict) {
		// A POST sent again after a transient failure finds the job its first attempt created:
		// done, if the job now there has none of the members the PATCH could not remove.
		if again, err := c.jobDocument(ctx, op, p); err == nil && !keepsAny(again, kept) {
			return nil
		}
	}
	// The job must not stay absent: put the definition it had before this update back.
	previous, decodeErr := asJob(current)
	if decodeErr == nil {
		decodeErr = c.CreateJob(ctx, previous)
	}
	if decodeErr != nil {
		return fmt.Errorf("cde: %s: the server kept %s after PATCH; the job was deleted to be recreated, the creation failed (%w) and restoring its previous definition failed too (%v): it is absent until created again", op, what, createErr, decodeErr)
	}
	return fmt.Errorf("cde: %s: the server kept %s after PATCH; the job was deleted to be recreated and the creation failed, so its previous definition was restored (its run history is lost): %w", op, what, createErr)
}

// keepsAny says whether doc still has one of the members at paths.
func keepsAny(doc map[string]any, paths []string) bool {
	for _, path := range paths {
		if isSet(lookupMember(doc, path)) {
			return true
		}
	}
	return false
}

// asJob is a stored job document as the Job to create again: the members the Job type models
// (read-only members such as created or owner are not sent back).
func asJob(doc map[string]any) (Job, error) {
	raw, err := json.Marshal(doc)
	if err != nil {
		return Job{}, err
	}
	var job Job
	if err := json.Unmarshal(raw, &job); err != nil {
		return Job{}, fmt.Errorf("the stored job does not decode: %w", err)
	}
	return job, nil
}

// jobDocument reads a job as a generic JSON object: UpdateJob needs to know
// which members and conf keys are stored, which a Job cannot tell (absent
// and empty look the same there, unknown members vanish).
func (c *JobsClient) jobDocument(ctx context.Context, op, escapedName string) (map[string]any, error) {
	var doc map[string]any
	if err := c.do(ctx, vcCall{op: op, method: http.MethodGet, path: "/jobs/" + escapedName}, &doc); err != nil {
		return nil, err
	}
	return doc, nil
}

// Keys that UpdateJob sends as null when unset. Response-only fields and
// "hidden" are left out: the server owns them.
var (
	jobUpdateKeys      = []string{"type", "retentionPolicy", "spark", "airflow"}
	sparkUpdateKeys    = []string{"file", "className", "args", "conf", "driverCores", "driverMemory", "executorCores", "executorMemory", "numExecutors", "logLevel", "jars", "pyFiles", "files", "pythonEnvResourceName", "proxyUser"}
	scheduleUpdateKeys = []string{"user", "cronExpression", "start", "end", "paused", "pausedUponCreation", "catchup", "dependsOnPast"}
)

// verifiedRemovals are the members whose stale value changes what the job
// runs and which no server is expected to fill with a default, so UpdateJob
// checks after the PATCH that they are gone (see UpdateJob).
var verifiedRemovals = map[string]bool{
	"spark": true, "airflow": true,
	"spark.className": true, "spark.pythonEnvResourceName": true, "spark.proxyUser": true,
	"schedule.cronExpression": true, "schedule.end": true,
}

// clearStale adds to doc (an update document) what removes the members the
// current job has and doc does not: null for each stale spark.conf key, []
// for a stale list (a fieldwise server ignores null). It returns the stale
// members, among verifiedRemovals, that only null removes.
func clearStale(doc, current map[string]any) []string {
	removed := clearStaleMembers(doc, current, "", jobUpdateKeys)
	for _, obj := range []struct {
		name string
		keys []string
	}{{"spark", sparkUpdateKeys}, {"schedule", scheduleUpdateKeys}} {
		next, _ := doc[obj.name].(map[string]any)
		cur, _ := current[obj.name].(map[string]any)
		if next == nil || cur == nil {
			continue
		}
		removed = append(removed, clearStaleMembers(next, cur, obj.name+".", obj.keys)...)
		if obj.name != "spark" {
			continue
		}
		// Both have a conf: null the keys only the stored one has.
		nextConf, _ := next["conf"].(map[string]any)
		curConf, _ := cur["conf"].(map[string]any)
		if nextConf == nil {
			continue
		}
		for k := range curConf {
			if _, ok := nextConf[k]; !ok {
				nextConf[k] = nil
			}
		}
	}
	return removed
}

// clearStaleMembers handles the keys of one object whose doc value is null
// while the stored value is set.
func clearStaleMembers(next, cur map[string]any, prefix string, keys []string) []string {
	var removed []string
	for _, k := range keys {
		if next[k] != nil || !isSet(cur[k]) {
			continue
		}
		switch stale := cur[k].(type) {
		case []any:
			next[k] = []any{}
		case map[string]any:
			if prefix+k == "spark.conf" {
				nulls := make(map[string]any, len(stale))
				for key := range stale {
					nulls[key] = nil
				}
				next[k] = nulls
				continue
			}
			if verifiedRemovals[prefix+k] {
				removed = append(removed, prefix+k)
			}
		default:
			if verifiedRemovals[prefix+k] {
				removed = append(removed, prefix+k)
			}
		}
	}
	return removed
}

// isSet: JSON null, "", [] and {} count as unset, as they do for a Job.
func isSet(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case string:
		return v != ""
	case []any:
		return len(v) > 0
	case map[string]any:
		return len(v) > 0
	}
	return true
}

// lookupMember returns the member at a dotted path ("spark.className").
func lookupMember(doc map[string]any, path string) any {
	var v any = doc
	for key := range strings.SplitSeq(path, ".") {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = obj[key]
	}
	return v
}

// updateDocument renders job as the JSON object UpdateJob sends.
func updateDocument(job Job) (map[string]any, error) {
	raw, err := json.Marshal(job)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // keep numbers exactly as marshalled
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	fillNulls(doc, jobUpdateKeys)
	if _, ok := doc["mounts"]; !ok {
		doc["mounts"] = []any{}
	}
	if spark, ok := doc["spark"].(map[string]any); ok {
		fillNulls(spark, sparkUpdateKeys)
	}
	schedule, ok := doc["schedule"].(map[string]any)
	if !ok {
		schedule = map[string]any{"enabled": false}
		doc["schedule"] = schedule
	}
	fillNulls(schedule, scheduleUpdateKeys)
	return doc, nil
}

func fillNulls(obj map[string]any, keys []string) {
	for _, k := range keys {
		if _, ok := obj[k]; !ok {
			obj[k] = nil
		}
	}
}

// DeleteJob deletes the job name; a missing job matches ErrNotFound.
func (c *JobsClient) DeleteJob(ctx context.Context, name string) error {
	p, err := escapeName("job name", name)
	if err != nil {
		return err
	}
	return c.do(ctx, vcCall{op: "deleteJob", method: http.MethodDelete, path: "/jobs/" + p}, nil)
}
