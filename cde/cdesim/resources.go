package cdesim

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"maps"
	"mime"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

type resource struct {
	name, typ, retention string
	pythonVersion        string
	pyPiMirror           string // as given at creation, reported back in pythonEnv
	created, modified    time.Time
	files                map[string]*storedFile
	// python-env build: started when requirements.txt is uploaded.
	buildStart time.Time
	// staleStatus is the outcome of the previous build (ready, failed), which the status keeps
	// reporting for lag (Options.PythonEnvStatusLag at the upload) before the new build shows.
	staleStatus string
	// The timing of the current build, taken from Options at its upload, so that changing the
	// options (SetPythonEnvTiming) does not rewrite a build already going.
	lag, pending, build time.Duration
	packages            int // counted from requirements.txt when its bytes are kept
	failReason          string
}

type storedFile struct {
	size              int64
	sha1              string
	data              []byte // nil with DigestOnlyUploads
	created, modified time.Time
}

// FileInfo describes a stored resource file.
type FileInfo struct {
	Path      string
	Size      int64
	Signature string // hex SHA-1 of the content
}

// ResourceInfo is a snapshot of one resource.
type ResourceInfo struct {
	Name, Type, Status string
	Signature          string
	PythonVersion      string
	PyPiMirror         string // of a python-env, as given at creation
	StatusReason       string
	Files              []FileInfo // sorted by path
}

// resourceStatusLocked derives a resource's status from the clock: a
// python-env is pending-build until its requirements.txt has been uploaded
// and for PythonEnvPending after that, then building for PythonEnvBuild,
// then ready (or failed when FailPythonEnvBuild was called). With
// PythonEnvStatusLag, a new upload to an environment built before keeps
// reporting that build's outcome for the lag before the new build shows.
func (s *Sim) resourceStatusLocked(r *resource) string {
	if r.typ != "python-env" {
		return ResourceReady
	}
	if r.buildStart.IsZero() {
		return ResourcePendingBuild
	}
	el := s.now().Sub(r.buildStart)
	lag := r.lag
	switch {
	case el < lag && r.staleStatus != "":
		return r.staleStatus
	case el < lag+r.pending:
		return ResourcePendingBuild
	case el < lag+r.pending+r.build:
		return ResourceBuilding
	case r.failReason != "":
		return ResourceFailed
	}
	return ResourceReady
}

// signature is the hex SHA-1 over "path\x00fileSignature\n" of every file in
// path order (a documented choice: the real algorithm is not public); empty
// when the resource has no files.
func (r *resource) signature() string {
	if len(r.files) == 0 {
		return ""
	}
	h := sha1.New()
	for _, p := range slices.Sorted(maps.Keys(r.files)) {
		fmt.Fprintf(h, "%s\x00%s\n", p, r.files[p].sha1)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (s *Sim) resourceViewLocked(r *resource, withFiles bool) map[string]any {
	st := s.resourceStatusLocked(r)
	lastUsed := r.modified
	out := map[string]any{
		"name": r.name, "type": r.typ, "status": st,
		"created": rfc3339(r.created), "modified": rfc3339(r.modified), "lastUsed": rfc3339(lastUsed),
		"retentionPolicy": r.retention,
	}
	if sig := r.signature(); sig != "" {
		out["signature"] = sig
	}
	if withFiles {
		files := []map[string]any{}
		for _, p := range slices.Sorted(maps.Keys(r.files)) {
			f := r.files[p]
			files = append(files, map[string]any{
				"path": p, "signature": f.sha1, "sizeBytes": f.size,
				"created": rfc3339(f.created), "modified": rfc3339(f.modified),
			})
		}
		out["files"] = files
	}
	if r.typ == "python-env" {
		env := map[string]any{"pythonVersion": r.pythonVersion, "type": "python-env"}
		if r.pyPiMirror != "" {
			env["pyPiMirror"] = r.pyPiMirror
		}
		out["pythonEnv"] = env
		switch st {
		case ResourceReady:
			info := map[string]any{
				"statusReason":         "Build completed",
				"buildDurationSeconds": int(s.opts.PythonEnvBuild / time.Second),
				"sizeMb":               10 + 5*r.packages,
			}
			if r.packages > 0 {
				info["numberOfPackages"] = r.packages
			}
			out["pythonEnvInfo"] = info
		case ResourceFailed:
			out["pythonEnvInfo"] = map[string]any{"statusReason": r.failReason}
		case ResourceBuilding:
			out["pythonEnvInfo"] = map[string]any{"statusReason": "Building"}
		}
	}
	return out
}

func (s *Sim) createResource(w http.ResponseWriter, r *http.Request, c *vc) {
	doc, err := decodeObject(r, 1<<20)
	if err != nil {
		writeVCError(w, http.StatusBadRequest, err.Error())
		return
	}
	stripNulls(doc)
	name, _ := doc["name"].(string)
	typ, _ := doc["type"].(string)
	if !validName(name) {
		writeVCError(w, http.StatusBadRequest, "resource name is required and must not contain '/', '?', '#', '%' or spaces")
		return
	}
	retention, _ := doc["retentionPolicy"].(string)
	if retention == "" {
		retention = "keep_indefinitely"
	}
	res := &resource{name: name, typ: typ, retention: retention, files: map[string]*storedFile{}}
	switch typ {
	case "files":
	case "python-env":
		// Documented field pythonEnv; witboost sends pythonEnvironment.
		// The mirror's JSON name is witboost's (pyPiMirror), UNCONFIRMED.
		for _, k := range []string{"pythonEnv", "pythonEnvironment"} {
			if pe, ok := doc[k].(map[string]any); ok {
				if v, _ := pe["pythonVersion"].(string); v != "" {
					res.pythonVersion = v
					res.pyPiMirror, _ = pe["pyPiMirror"].(string)
					break
				}
			}
		}
		if res.pythonVersion == "" {
			writeVCError(w, http.StatusBadRequest, "a python-env resource needs pythonEnv.pythonVersion")
			return
		}
	case "":
		writeVCError(w, http.StatusBadRequest, "resource type is required")
		return
	default:
		writeVCError(w, http.StatusBadRequest, fmt.Sprintf("unsupported resource type %q (simulator supports files, python-env)", typ))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.resources[name] != nil {
		writeVCError(w, http.StatusConflict, fmt.Sprintf("resource with name '%s' already exists", name))
		return
	}
	res.created = s.now()
	res.modified = res.created
	c.resources[name] = res
	writeEmpty(w, http.StatusCreated)
}

// includeFiles reads ?includeFiles; a single GET includes files unless told
// otherwise, a list does not (UNCONFIRMED defaults).
func includeFiles(r *http.Request, def bool) bool {
	switch strings.ToLower(r.URL.Query().Get("includeFiles")) {
	case "true":
		return true
	case "false":
		return false
	}
	return def
}

func (s *Sim) getResource(w http.ResponseWriter, r *http.Request, c *vc) {
	name := r.PathValue("name")
	s.mu.Lock()
	defer s.mu.Unlock()
	res := c.resources[name]
	if res == nil {
		writeVCError(w, http.StatusNotFound, fmt.Sprintf("resource '%s' not found", name))
		return
	}
	writeJSON(w, http.StatusOK, s.resourceViewLocked(res, includeFiles(r, true)))
}

func (s *Sim) listResources(w http.ResponseWriter, r *http.Request, c *vc) {
	withFiles := includeFiles(r, false)
	s.mu.Lock()
	items := make([]map[string]any, 0, len(c.resources))
	for _, res := range c.resources {
		items = append(items, s.resourceViewLocked(res, withFiles))
	}
	s.mu.Unlock()
	writeList(w, r, "resources", items, "name")
}

func (s *Sim) deleteResource(w http.ResponseWriter, r *http.Request, c *vc) {
	name := r.PathValue("name")
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.resources[name] == nil {
		writeVCError(w, http.StatusNotFound, fmt.Sprintf("resource '%s' not found", name))
		return
	}
	delete(c.resources, name)
	writeEmpty(w, http.StatusNoContent)
}

func validFilePath(p string) bool {
	if p == "" || strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") {
		return false
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// receivedFile is an upload read from the wire.
type receivedFile struct {
	size     int64
	sha1     string
	data     []byte
	packages int
}

// keepsBytes says whether a file of size bytes is stored whole or only as
// its size and digest (DigestOnlyUploads, KeepUploadsUpTo).
func (s *Sim) keepsBytes(size int64) bool {
	return !s.opts.DigestOnlyUploads || size <= s.opts.KeepUploadsUpTo
}

// readMultipartFile streams the first part named "file" into a SHA-1, and
// into a buffer when its content is to be kept: always when keepUpTo is
// negative, else only if it has at most keepUpTo bytes (the buffer is
// dropped as soon as it would grow past that). Other parts are skipped.
func readMultipartFile(r *http.Request, keepUpTo int64, countPackages bool) (receivedFile, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		return receivedFile{}, errors.New("upload must be multipart/form-data with a part named \"file\"")
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return receivedFile{}, fmt.Errorf("malformed multipart body: %w", err)
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return receivedFile{}, errors.New("multipart body has no part named \"file\"")
		}
		if err != nil {
			return receivedFile{}, fmt.Errorf("malformed multipart body: %w", err)
		}
		if part.FormName() != "file" {
			_ = part.Close()
			continue
		}
		var h hash.Hash = sha1.New()
		buf := &boundedBuffer{limit: keepUpTo}
		if countPackages {
			buf.limit = -1 // requirements are counted whatever their size
		}
		dst := io.Writer(h)
		if buf.limit != 0 {
			dst = io.MultiWriter(h, buf)
		}
		n, err := io.Copy(dst, part)
		if err != nil {
			// size still says how much arrived, for UploadedBytes.
			return receivedFile{size: n}, fmt.Errorf("read file part: %w", err)
		}
		out := receivedFile{size: n, sha1: hex.EncodeToString(h.Sum(nil))}
		if countPackages {
			out.packages = countRequirements(buf.Bytes())
		}
		if (keepUpTo < 0 || n <= keepUpTo) && !buf.overflow {
			out.data = buf.Bytes()
		}
		return out, nil
	}
}

// boundedBuffer keeps what is written to it while it holds at most limit
// bytes (any amount when limit is negative); past that it drops its content
// and discards the rest, so a digest-only upload never holds a big file.
type boundedBuffer struct {
	bytes.Buffer
	limit    int64
	overflow bool
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	if b.overflow {
		return len(p), nil
	}
	if b.limit >= 0 && int64(b.Len())+int64(len(p)) > b.limit {
		b.overflow = true
		b.Buffer = bytes.Buffer{}
		return len(p), nil
	}
	return b.Buffer.Write(p)
}

func countRequirements(b []byte) int {
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line != "" && !strings.HasPrefix(line, "#") && !strings.HasPrefix(line, "-") {
			n++
		}
	}
	return n
}

func (s *Sim) uploadFile(w http.ResponseWriter, r *http.Request, c *vc) {
	name, fp := r.PathValue("name"), r.PathValue("file")
	if !validFilePath(fp) {
		writeVCError(w, http.StatusBadRequest, fmt.Sprintf("invalid file path %q", fp))
		return
	}
	s.mu.Lock()
	res := c.resources[name]
	s.mu.Unlock()
	if res == nil {
		writeVCError(w, http.StatusNotFound, fmt.Sprintf("resource '%s' not found", name))
		return
	}
	isEnv := res.typ == "python-env" // type never changes
	if isEnv && fp != "requirements.txt" {
		writeVCError(w, http.StatusBadRequest, "a python-env resource accepts only requirements.txt")
		return
	}
	// Stream outside the lock: uploads may be large and slow.
	keepUpTo := int64(-1)
	if s.opts.DigestOnlyUploads {
		keepUpTo = s.opts.KeepUploadsUpTo
	}
	got, err := readMultipartFile(r, keepUpTo, isEnv)
	s.countUpload(c.id, name, got.size)
	if err != nil {
		writeVCError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.resources[name] != res {
		writeVCError(w, http.StatusNotFound, fmt.Sprintf("resource '%s' not found", name))
		return
	}
	s.storeFileLocked(res, fp, got)
	writeEmpty(w, http.StatusCreated)
}

func (s *Sim) storeFileLocked(res *resource, fp string, got receivedFile) {
	now := s.now()
	f := res.files[fp]
	if f == nil {
		f = &storedFile{created: now}
		res.files[fp] = f
	}
	f.size, f.sha1, f.data, f.modified = got.size, got.sha1, got.data, now
	res.modified = now
	if res.typ == "python-env" {
		prev := "" // what the status says right before this upload
		if !res.buildStart.IsZero() {
			prev = s.resourceStatusLocked(res)
		}
		res.staleStatus, res.lag = "", 0
		if prev == ResourceReady || prev == ResourceFailed {
			res.staleStatus, res.lag = prev, s.opts.PythonEnvStatusLag
		}
		res.pending, res.build = s.opts.PythonEnvPending, s.opts.PythonEnvBuild
		res.buildStart = now
		res.packages = got.packages
	}
}

// downloadFile answers GET /resources/{name}/{path} with the stored bytes and
// their Content-Length. The bytes are written outside the lock (a big file to
// a slow reader must not stall the simulator): an upload replaces a file's
// slice, never changes it, so the one taken here stays whole.
func (s *Sim) downloadFile(w http.ResponseWriter, r *http.Request, c *vc) {
	name, fp := r.PathValue("name"), r.PathValue("file")
	s.mu.Lock()
	res := c.resources[name]
	var f *storedFile
	if res != nil {
		f = res.files[fp]
	}
	var data []byte
	var size int64
	if f != nil {
		data, size = f.data, f.size
	}
	s.mu.Unlock()
	switch {
	case res == nil:
		writeVCError(w, http.StatusNotFound, fmt.Sprintf("resource '%s' not found", name))
		return
	case f == nil:
		writeVCError(w, http.StatusNotFound, fmt.Sprintf("file '%s' not found in resource '%s'", fp, name))
		return
	case data == nil && size > 0:
		// 410, not 501: a client retries a 5xx, and no retry brings the bytes back.
		writeVCError(w, http.StatusGone, fmt.Sprintf(
			"the simulator kept only the size (%d bytes) and digest of file '%s' (Options.DigestOnlyUploads): its content cannot be downloaded", size, fp))
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", "attachment; filename="+fmt.Sprintf("%q", path.Base(fp)))
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data)
}

func (s *Sim) deleteFile(w http.ResponseWriter, r *http.Request, c *vc) {
	name, fp := r.PathValue("name"), r.PathValue("file")
	s.mu.Lock()
	defer s.mu.Unlock()
	res := c.resources[name]
	if res == nil {
		writeVCError(w, http.StatusNotFound, fmt.Sprintf("resource '%s' not found", name))
		return
	}
	if res.files[fp] == nil {
		writeVCError(w, http.StatusNotFound, fmt.Sprintf("file '%s' not found in resource '%s'", fp, name))
		return
	}
	delete(res.files, fp)
	res.modified = s.now()
	writeEmpty(w, http.StatusNoContent)
}

// uploadKey names a resource of a virtual cluster in the upload counters.
type uploadKey struct{ vcID, resource string }

func (s *Sim) countUpload(vcID, resource string, n int64) {
	if n == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.uploaded[uploadKey{vcID, resource}] += n
}

// UploadedBytes returns how many bytes of file content the upload handler
// (PUT /resources/{name}/{path}) has read for resource name of virtual
// cluster vcID since the simulator started: every upload counts, including
// one cut off midway (the bytes that arrived) and files since overwritten or
// deleted, while requests refused before their body was read (a failure
// injected with FailNext, a missing resource) count nothing. An empty name
// sums every resource of the virtual cluster; an empty vcID sums every
// virtual cluster. It lets a test or benchmark count the bytes a redeploy
// sends, which the stored files cannot tell.
func (s *Sim) UploadedBytes(vcID, name string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var total int64
	for k, n := range s.uploaded {
		if (vcID == "" || k.vcID == vcID) && (name == "" || k.resource == name) {
			total += n
		}
	}
	return total
}
