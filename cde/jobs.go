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
	"time"
)

// listPageSize is the page size of GET /jobs (witboost's default too).
const listPageSize = 100

// maxListPages stops a paginated listing whose server keeps saying hasNext.
const maxListPages = 10000

// JobsClient calls the jobs API of one CDE virtual cluster with bearer
// tokens from a TokenSource. A 401 invalidates the token and the request is
// sent once more with a fresh one. It is safe for concurrent use.
type JobsClient struct {
	base   string // vcApiUrl without trailing slash
	tokens TokenSource
	hc     *http.Client
	now    func() time.Time
}

// NewJobsClient returns a client of the jobs API at vcAPIURL (the
// VcDescription's VcAPIURL, e.g. https://xyz.cde-….cloudera.site/dex/api/v1).
// httpClient nil means a client on http.DefaultTransport (system roots and
// SSL_CERT_FILE); its timeout, if any, applies to every call.
func NewJobsClient(vcAPIURL string, tokens TokenSource, httpClient *http.Client) (*JobsClient, error) {
	u, err := parseHTTPSBase("jobs API URL", vcAPIURL)
	if err != nil {
		return nil, err
	}
	if tokens == nil {
		return nil, errors.New("cde: jobs client needs a token source")
	}
	return &JobsClient{base: u.String(), tokens: tokens, hc: defaultHTTPClient(httpClient), now: time.Now}, nil
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
	// prepares a second attempt and fails when the stream cannot be
	// replayed (then the 401 is returned).
	newBody       func() io.Reader
	rewind        func() error
	contentLength int64 // of newBody's reader; -1 = unknown (chunked)
}

// do sends call and decodes a 2xx answer into out (an empty body leaves
// out untouched). On a 401 it invalidates the token and retries once.
func (c *JobsClient) do(ctx context.Context, call vcCall, out any) error {
	var payload []byte
	if call.jsonBody != nil {
		var err error
		if payload, err = json.Marshal(call.jsonBody); err != nil {
			return fmt.Errorf("cde: %s: encode request: %w", call.op, err)
		}
	}
	for attempt := 1; ; attempt++ {
		token, err := c.tokens.Token(ctx)
		if err != nil {
			return err // already says knoxToken and carries its status
		}
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
			return fmt.Errorf("cde: %s: %w", call.op, err)
		}
		if body != nil {
			req.ContentLength = contentLength
			if contentLength == 0 {
				req.Body = http.NoBody
			}
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Accept", "application/json")
		switch {
		case call.contentType != "":
			req.Header.Set("Content-Type", call.contentType)
		case payload != nil:
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := c.hc.Do(req)
		if err != nil {
			stopReading(body)
			return fmt.Errorf("cde: %s: %w", call.op, err)
		}
		respBody, err := readBody(resp)
		drain(resp.Body)
		stopReading(body)
		if err != nil {
			return fmt.Errorf("cde: %s: read response: %w", call.op, err)
		}
		if resp.StatusCode == http.StatusUnauthorized {
			c.tokens.Invalidate(token)
			if attempt == 1 && (call.rewind == nil || call.rewind() == nil) {
				continue
			}
		}
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return newAPIError(call.op, call.method, req.URL.EscapedPath(), resp, respBody, c.now())
		}
		if err := decodeJSON(respBody, out); err != nil {
			return fmt.Errorf("cde: %s: %w", call.op, err)
		}
		return nil
	}
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
	return c.do(ctx, vcCall{op: "createJob", method: http.MethodPost, path: "/jobs", jsonBody: job}, nil)
}

// UpdateJob sends the whole job as PATCH /jobs/{job.Name}. Whether the
// server merges or replaces is undocumented, so every optional field of
// the job, its spark and its schedule objects is sent, as null when unset
// (as witboost does), mounts as [] when nil and a nil schedule as
// {"enabled":false}: the job ends up as given under either semantics.
func (c *JobsClient) UpdateJob(ctx context.Context, job Job) error {
	p, err := escapeName("job name", job.Name)
	if err != nil {
		return err
	}
	doc, err := updateDocument(job)
	if err != nil {
		return fmt.Errorf("cde: updateJob: %w", err)
	}
	return c.do(ctx, vcCall{op: "updateJob", method: http.MethodPatch, path: "/jobs/" + p, jsonBody: doc}, nil)
}

// Keys that UpdateJob sends as null when unset. Response-only fields and
// "hidden" are left out: the server owns them.
var (
	jobUpdateKeys      = []string{"type", "retentionPolicy", "spark", "airflow"}
	sparkUpdateKeys    = []string{"file", "className", "args", "conf", "driverCores", "driverMemory", "executorCores", "executorMemory", "numExecutors", "logLevel", "jars", "pyFiles", "files", "pythonEnvResourceName", "proxyUser"}
	scheduleUpdateKeys = []string{"user", "cronExpression", "start", "end", "paused", "pausedUponCreation", "catchup", "dependsOnPast"}
)

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
