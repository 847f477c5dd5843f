package cdesim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

type job struct {
	doc                         map[string]any // request fields, nulls removed
	created, modified, lastUsed time.Time
}

type jobRun struct {
	id               int
	job, typ, status string
	user, requestID  string
	started, ended   time.Time
	spec             map[string]any
}

// vcError is the VC API error body. Its real shape is UNCONFIRMED; the
// simulator uses {"message": "..."}.
type vcError struct {
	Message string `json:"message"`
}

func writeVCError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, vcError{Message: msg})
}

func writeEmpty(w http.ResponseWriter, status int) {
	w.WriteHeader(status)
}

// vcHandler serves one virtual cluster's jobs API under /dex/api/v1.
func (s *Sim) vcHandler(c *vc) http.Handler {
	mux := http.NewServeMux()
	p := vcAPIPrefix
	mux.HandleFunc("GET "+p+"/info", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"appName": c.name, "appId": c.id, "version": "cdesim", "sparkVersion": c.sparkVersion})
	})
	mux.HandleFunc("GET "+p+"/jobs", func(w http.ResponseWriter, r *http.Request) { s.listJobs(w, r, c) })
	mux.HandleFunc("POST "+p+"/jobs", func(w http.ResponseWriter, r *http.Request) { s.createJob(w, r, c) })
	mux.HandleFunc("GET "+p+"/jobs/{name}", func(w http.ResponseWriter, r *http.Request) { s.getJob(w, r, c) })
	mux.HandleFunc("PATCH "+p+"/jobs/{name}", func(w http.ResponseWriter, r *http.Request) { s.patchJob(w, r, c) })
	mux.HandleFunc("DELETE "+p+"/jobs/{name}", func(w http.ResponseWriter, r *http.Request) { s.deleteJob(w, r, c) })
	mux.HandleFunc("POST "+p+"/jobs/{name}/run", func(w http.ResponseWriter, r *http.Request) { s.runJob(w, r, c) })
	mux.HandleFunc("GET "+p+"/job-runs", func(w http.ResponseWriter, r *http.Request) { s.listRuns(w, r, c) })
	mux.HandleFunc("GET "+p+"/job-runs/{id}", func(w http.ResponseWriter, r *http.Request) { s.getRun(w, r, c) })
	mux.HandleFunc("POST "+p+"/job-runs/{id}/kill", func(w http.ResponseWriter, r *http.Request) { s.killRun(w, r, c) })
	mux.HandleFunc("GET "+p+"/resources", func(w http.ResponseWriter, r *http.Request) { s.listResources(w, r, c) })
	mux.HandleFunc("POST "+p+"/resources", func(w http.ResponseWriter, r *http.Request) { s.createResource(w, r, c) })
	mux.HandleFunc("GET "+p+"/resources/{name}", func(w http.ResponseWriter, r *http.Request) { s.getResource(w, r, c) })
	mux.HandleFunc("DELETE "+p+"/resources/{name}", func(w http.ResponseWriter, r *http.Request) { s.deleteResource(w, r, c) })
	mux.HandleFunc("PUT "+p+"/resources/{name}/{file...}", func(w http.ResponseWriter, r *http.Request) { s.uploadFile(w, r, c) })
	mux.HandleFunc("GET "+p+"/resources/{name}/{file...}", func(w http.ResponseWriter, r *http.Request) { s.downloadFile(w, r, c) })
	mux.HandleFunc("DELETE "+p+"/resources/{name}/{file...}", func(w http.ResponseWriter, r *http.Request) { s.deleteFile(w, r, c) })
	// Known paths with another method: 405 in the API's error shape.
	for _, path := range []string{"/info", "/jobs", "/jobs/{name}", "/jobs/{name}/run", "/job-runs", "/job-runs/{id}",
		"/job-runs/{id}/kill", "/resources", "/resources/{name}", "/resources/{name}/{file...}"} {
		mux.HandleFunc(p+path, func(w http.ResponseWriter, r *http.Request) {
			writeVCError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed on "+r.URL.Path)
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeVCError(w, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
	})

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != vcAPIPrefix && !strings.HasPrefix(r.URL.Path, vcAPIPrefix+"/") {
			// Not a jobs-API path (e.g. the Knox endpoint on the VC host).
			writeVCError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path)
			return
		}
		if err := s.checkBearer(r, c.svc); err != nil {
			w.Header().Set("WWW-Authenticate", "Bearer")
			writeVCError(w, http.StatusUnauthorized, err.Error())
			return
		}
		s.mu.Lock()
		vcStatus, svcStatus := c.status, c.svc.status
		s.mu.Unlock()
		if vcStatus != StatusVCRunning || svcStatus != StatusServiceRunning {
			writeVCError(w, http.StatusServiceUnavailable,
				fmt.Sprintf("virtual cluster %s is not available (service %s, virtual cluster %s)", c.name, svcStatus, vcStatus))
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// decodeObject reads a JSON object body keeping numbers exact.
func decodeObject(r *http.Request, limit int64) (map[string]any, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, limit))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return map[string]any{}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("malformed JSON body: %w", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("body must be a JSON object")
	}
	return m, nil
}

// stripNulls removes null members recursively (the API accepts null for
// optional fields and does not echo them).
func stripNulls(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if x == nil {
				delete(t, k)
				continue
			}
			t[k] = stripNulls(x)
		}
	case []any:
		for i, x := range t {
			t[i] = stripNulls(x)
		}
	}
	return v
}

// mergePatch applies an RFC 7386 merge patch.
func mergePatch(target map[string]any, patch map[string]any) map[string]any {
	for k, pv := range patch {
		if pv == nil {
			delete(target, k)
			continue
		}
		if pm, ok := pv.(map[string]any); ok {
			tm, _ := target[k].(map[string]any)
			if tm == nil {
				tm = map[string]any{}
			}
			target[k] = mergePatch(tm, pm)
			continue
		}
		target[k] = pv
	}
	return target
}

// jobStructs are the job members a struct-decoding server patches field by
// field (see PatchFieldwise).
var jobStructs = map[string]bool{"spark": true, "schedule": true, "airflow": true}

// fieldwisePatch applies patch per PatchFieldwise.
func fieldwisePatch(target, patch map[string]any, top bool) map[string]any {
	for k, pv := range patch {
		if pv == nil {
			continue
		}
		if pm, ok := pv.(map[string]any); ok && top && jobStructs[k] {
			tm, _ := target[k].(map[string]any)
			if tm == nil {
				tm = map[string]any{}
			}
			target[k] = fieldwisePatch(tm, pm, false)
			continue
		}
		target[k] = stripNulls(pv)
	}
	return target
}

func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[k] = deepCopy(x)
		}
		return m
	case []any:
		a := make([]any, len(t))
		for i, x := range t {
			a[i] = deepCopy(x)
		}
		return a
	}
	return v
}

// validateJobLocked checks a job document; it returns a 400 message.
func (s *Sim) validateJobLocked(c *vc, doc map[string]any) string {
	name, _ := doc["name"].(string)
	if !validName(name) {
		return "job name is required and must not contain '/', '?', '#', '%' or spaces"
	}
	typ, _ := doc["type"].(string)
	switch typ {
	case "spark":
		sp, ok := doc["spark"].(map[string]any)
		if !ok {
			return "a spark job needs a \"spark\" object"
		}
		if f, _ := sp["file"].(string); f == "" {
			return "spark.file is required"
		}
		if pe, ok := sp["pythonEnvResourceName"]; ok && !s.opts.SkipMountValidation {
			n, _ := pe.(string)
			r := c.resources[n]
			if r == nil {
				return fmt.Sprintf("python environment resource '%s' not found", n)
			}
			if r.typ != "python-env" {
				return fmt.Sprintf("resource '%s' is of type %s, not python-env", n, r.typ)
			}
		}
	case "airflow":
		if _, ok := doc["airflow"].(map[string]any); !ok {
			return "an airflow job needs an \"airflow\" object"
		}
	case "":
		return "job type is required"
	default:
		return fmt.Sprintf("unsupported job type %q", typ)
	}
	if m, ok := doc["mounts"]; ok {
		mounts, ok := m.([]any)
		if !ok {
			return "mounts must be an array"
		}
		for i, x := range mounts {
			mo, _ := x.(map[string]any)
			rn, _ := mo["resourceName"].(string)
			if rn == "" {
				return fmt.Sprintf("mounts[%d].resourceName is required", i)
			}
			if r := c.resources[rn]; r == nil && !s.opts.SkipMountValidation {
				return fmt.Sprintf("resource '%s' not found", rn)
			} else if r != nil && r.typ != "files" && !s.opts.SkipMountValidation {
				return fmt.Sprintf("resource '%s' of type %s cannot be mounted", rn, r.typ)
			}
		}
	}
	if sc, ok := doc["schedule"]; ok {
		if _, ok := sc.(map[string]any); !ok {
			return "schedule must be an object"
		}
	}
	return ""
}

func (j *job) view() map[string]any {
	out := deepCopy(j.doc).(map[string]any)
	out["created"] = rfc3339(j.created)
	out["modified"] = rfc3339(j.modified)
	out["lastUsed"] = rfc3339(j.lastUsed)
	if _, ok := out["mounts"]; !ok {
		out["mounts"] = []any{}
	}
	if _, ok := out["retentionPolicy"]; !ok {
		out["retentionPolicy"] = "keep_indefinitely"
	}
	return out
}

func (s *Sim) createJob(w http.ResponseWriter, r *http.Request, c *vc) {
	doc, err := decodeObject(r, 1<<20)
	if err != nil {
		writeVCError(w, http.StatusBadRequest, err.Error())
		return
	}
	stripNulls(doc)
	s.mu.Lock()
	defer s.mu.Unlock()
	if msg := s.validateJobLocked(c, doc); msg != "" {
		writeVCError(w, http.StatusBadRequest, msg)
		return
	}
	name := doc["name"].(string)
	if c.jobs[name] != nil {
		writeVCError(w, s.opts.DuplicateJobStatus, fmt.Sprintf("job with name '%s' already exists", name))
		return
	}
	now := s.now()
	c.jobs[name] = &job{doc: doc, created: now, modified: now, lastUsed: now}
	writeEmpty(w, http.StatusCreated)
}

func (s *Sim) getJob(w http.ResponseWriter, r *http.Request, c *vc) {
	name := r.PathValue("name")
	s.mu.Lock()
	defer s.mu.Unlock()
	j := c.jobs[name]
	if j == nil {
		writeVCError(w, http.StatusNotFound, fmt.Sprintf("job '%s' not found", name))
		return
	}
	writeJSON(w, http.StatusOK, j.view())
}

func (s *Sim) patchJob(w http.ResponseWriter, r *http.Request, c *vc) {
	name := r.PathValue("name")
	patch, err := decodeObject(r, 1<<20)
	if err != nil {
		writeVCError(w, http.StatusBadRequest, err.Error())
		return
	}
	if n, ok := patch["name"]; ok && n != nil && n != name {
		writeVCError(w, http.StatusBadRequest, "a job cannot be renamed")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	j := c.jobs[name]
	if j == nil {
		writeVCError(w, http.StatusNotFound, fmt.Sprintf("job '%s' not found", name))
		return
	}
	var doc map[string]any
	switch s.opts.Patch {
	case PatchReplace:
		doc = stripNulls(patch).(map[string]any)
	case PatchFieldwise:
		doc = fieldwisePatch(deepCopy(j.doc).(map[string]any), patch, true)
	default:
		doc = stripNulls(mergePatch(deepCopy(j.doc).(map[string]any), patch)).(map[string]any)
	}
	doc["name"] = name
	if msg := s.validateJobLocked(c, doc); msg != "" {
		writeVCError(w, http.StatusBadRequest, msg)
		return
	}
	j.doc = doc
	j.modified = s.now()
	writeEmpty(w, http.StatusOK)
}

func (s *Sim) deleteJob(w http.ResponseWriter, r *http.Request, c *vc) {
	name := r.PathValue("name")
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.jobs[name] == nil {
		writeVCError(w, http.StatusNotFound, fmt.Sprintf("job '%s' not found", name))
		return
	}
	delete(c.jobs, name)
	writeEmpty(w, http.StatusNoContent)
}

func (s *Sim) listJobs(w http.ResponseWriter, r *http.Request, c *vc) {
	s.mu.Lock()
	items := make([]map[string]any, 0, len(c.jobs))
	for _, j := range c.jobs {
		items = append(items, j.view())
	}
	s.mu.Unlock()
	writeList(w, r, "jobs", items, "name")
}

func (run *jobRun) view() map[string]any {
	out := map[string]any{
		"id": run.id, "job": run.job, "type": run.typ, "status": run.status,
		"user": run.user, "started": rfc3339(run.started),
	}
	if !run.ended.IsZero() {
		out["ended"] = rfc3339(run.ended)
	}
	if run.spec != nil {
		out["spark"] = map[string]any{"spec": run.spec, "sparkAppID": fmt.Sprintf("spark-%08d", run.id)}
	}
	return out
}

func (s *Sim) runJob(w http.ResponseWriter, r *http.Request, c *vc) {
	name := r.PathValue("name")
	req, err := decodeObject(r, 1<<20)
	if err != nil {
		writeVCError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	j := c.jobs[name]
	if j == nil {
		writeVCError(w, http.StatusNotFound, fmt.Sprintf("job '%s' not found", name))
		return
	}
	reqID, _ := req["requestID"].(string)
	if reqID != "" {
		for _, old := range c.runs {
			if old.requestID == reqID {
				writeJSON(w, http.StatusConflict, map[string]any{
					"message": fmt.Sprintf("a run with requestID '%s' already exists", reqID), "id": old.id,
				})
				return
			}
		}
	}
	sp, _ := j.doc["spark"].(map[string]any)
	if pe, _ := sp["pythonEnvResourceName"].(string); pe != "" {
		if res := c.resources[pe]; res != nil {
			if st := s.resourceStatusLocked(res); st != ResourceReady {
				writeVCError(w, http.StatusBadRequest, fmt.Sprintf("cannot use resource '%s' in status '%s'", pe, st))
				return
			}
		}
	}
	user, _ := req["user"].(string)
	if user == "" {
		user = s.tokenUserLocked(r)
	}
	now := s.now()
	run := &jobRun{
		id: len(c.runs) + 1, job: name, typ: fmt.Sprint(j.doc["type"]), status: "starting",
		user: user, requestID: reqID, started: now,
	}
	if sp != nil {
		run.spec = deepCopy(sp).(map[string]any)
	}
	c.runs = append(c.runs, run)
	j.lastUsed = now
	writeJSON(w, http.StatusCreated, map[string]any{"id": run.id})
}

func (s *Sim) tokenUserLocked(r *http.Request) string {
	_, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if t := s.tokens[strings.TrimSpace(tok)]; t != nil {
		return t.user
	}
	return ""
}

func (s *Sim) runByPathLocked(w http.ResponseWriter, r *http.Request, c *vc) *jobRun {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil || id < 1 || id > len(c.runs) {
		writeVCError(w, http.StatusNotFound, fmt.Sprintf("job run '%s' not found", r.PathValue("id")))
		return nil
	}
	return c.runs[id-1]
}

func (s *Sim) getRun(w http.ResponseWriter, r *http.Request, c *vc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if run := s.runByPathLocked(w, r, c); run != nil {
		writeJSON(w, http.StatusOK, run.view())
	}
}

func (s *Sim) killRun(w http.ResponseWriter, r *http.Request, c *vc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	run := s.runByPathLocked(w, r, c)
	if run == nil {
		return
	}
	switch run.status {
	case "succeeded", "failed", "killed":
		writeVCError(w, http.StatusBadRequest, fmt.Sprintf("job run %d already ended (%s)", run.id, run.status))
		return
	}
	run.status, run.ended = "killed", s.now()
	writeEmpty(w, http.StatusNoContent)
}

func (s *Sim) listRuns(w http.ResponseWriter, r *http.Request, c *vc) {
	s.mu.Lock()
	items := make([]map[string]any, 0, len(c.runs))
	for _, run := range c.runs {
		items = append(items, run.view())
	}
	s.mu.Unlock()
	writeList(w, r, "runs", items, "id")
}

// writeList answers a list endpoint: the page of items the query asks for (filters, order,
// limit/offset) under field, with its meta; a bad query is a 400.
func writeList(w http.ResponseWriter, r *http.Request, field string, items []map[string]any, defaultOrder string) {
	page, meta, err := paginate(r, items, defaultOrder)
	if err != nil {
		writeVCError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{field: page, "meta": meta})
}

var filterRe = regexp.MustCompile(`^([A-Za-z0-9_.]+)\[([a-z]+)\](.*)$`)

type filter struct {
	field, op, value string
	re               *regexp.Regexp
}

func parseFilters(q []string) ([]filter, error) {
	var out []filter
	for _, raw := range q {
		for _, part := range regexp.MustCompile(`(?i)\s+AND\s+`).Split(raw, -1) {
			m := filterRe.FindStringSubmatch(strings.TrimSpace(part))
			if m == nil {
				return nil, fmt.Errorf("invalid filter %q: want field[op]value", part)
			}
			f := filter{field: m[1], op: m[2], value: m[3]}
			switch f.op {
			case "eq", "noteq", "neq", "gt", "gte", "lt", "lte":
			case "like":
				pat := regexp.QuoteMeta(f.value)
				pat = strings.NewReplacer("%", ".*", "_", ".").Replace(pat)
				f.re = regexp.MustCompile("^" + pat + "$")
			case "rlike":
				re, err := regexp.Compile(f.value)
				if err != nil {
					return nil, fmt.Errorf("invalid filter %q: %v", part, err)
				}
				f.re = re
			default:
				return nil, fmt.Errorf("invalid filter %q: unknown operator %q", part, f.op)
			}
			out = append(out, f)
		}
	}
	return out, nil
}

func lookup(item map[string]any, dotted string) (string, bool) {
	var cur any = item
	for _, k := range strings.Split(dotted, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return "", false
		}
		if cur, ok = m[k]; !ok {
			return "", false
		}
	}
	return fmt.Sprint(cur), true
}

func (f filter) match(item map[string]any) bool {
	v, ok := lookup(item, f.field)
	if !ok {
		return false
	}
	switch f.op {
	case "eq":
		return v == f.value
	case "noteq", "neq":
		return v != f.value
	case "gt":
		return compare(v, f.value) > 0
	case "gte":
		return compare(v, f.value) >= 0
	case "lt":
		return compare(v, f.value) < 0
	case "lte":
		return compare(v, f.value) <= 0
	}
	return f.re.MatchString(v)
}

// compare orders numerically when both sides are integers, else as strings.
func compare(a, b string) int {
	x, errA := strconv.ParseInt(a, 10, 64)
	y, errB := strconv.ParseInt(b, 10, 64)
	if errA == nil && errB == nil {
		return cmpInt(x, y)
	}
	return strings.Compare(a, b)
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// pageMeta is the jobs API pagination object; count is the number of items
// matching the filters (UNCONFIRMED: could be the page size).
type pageMeta struct {
	HasNext bool `json:"hasNext"`
	Limit   int  `json:"limit"`
	Offset  int  `json:"offset"`
	Count   int  `json:"count"`
}

// paginate filters, orders and pages list items per the query conventions
// (limit default 20, offset, orderby, orderasc, repeatable filter).
func paginate(r *http.Request, items []map[string]any, defaultOrder string) ([]map[string]any, pageMeta, error) {
	q := r.URL.Query()
	limit, offset := 20, 0
	var err error
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 1000 {
			return nil, pageMeta{}, fmt.Errorf("invalid limit %q: want 1..1000", v)
		}
	}
	if v := q.Get("offset"); v != "" {
		if offset, err = strconv.Atoi(v); err != nil || offset < 0 {
			return nil, pageMeta{}, fmt.Errorf("invalid offset %q", v)
		}
	}
	filters, err := parseFilters(q["filter"])
	if err != nil {
		return nil, pageMeta{}, err
	}
	matched := items[:0]
	for _, it := range items {
		ok := true
		for _, f := range filters {
			ok = ok && f.match(it)
		}
		if ok {
			matched = append(matched, it)
		}
	}
	order := q.Get("orderby")
	if order == "" || strings.EqualFold(order, "ID") && defaultOrder == "name" {
		order = defaultOrder
	}
	asc := q.Get("orderasc") != "false"
	slices.SortStableFunc(matched, func(a, b map[string]any) int {
		x, _ := lookup(a, order)
		y, _ := lookup(b, order)
		c := compare(x, y)
		if !asc {
			c = -c
		}
		return c
	})
	end := min(offset+limit, len(matched))
	page := []map[string]any{}
	if offset < len(matched) {
		page = matched[offset:end]
	}
	return page, pageMeta{HasNext: end < len(matched), Limit: limit, Offset: offset, Count: len(matched)}, nil
}
