package cdesim

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Job returns the job as GET /jobs/{name} would show it.
func (s *Sim) Job(vcID, name string) (json.RawMessage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.vcLocked(vcID)
	if err != nil {
		return nil, err
	}
	j := c.jobs[name]
	if j == nil {
		return nil, fmt.Errorf("job %q: %w", name, ErrNotFound)
	}
	return json.Marshal(j.view())
}

// JobNames lists the jobs of a virtual cluster, sorted.
func (s *Sim) JobNames(vcID string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.vcLocked(vcID)
	if err != nil {
		return nil, err
	}
	return slices.Sorted(maps.Keys(c.jobs)), nil
}

// PutJob creates or replaces a job from its JSON (as POST /jobs takes it),
// with the same validation as the API.
func (s *Sim) PutJob(vcID string, jobJSON []byte) error {
	dec := json.NewDecoder(bytes.NewReader(jobJSON))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return fmt.Errorf("decode job: %w", err)
	}
	stripNulls(doc)
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.vcLocked(vcID)
	if err != nil {
		return err
	}
	if msg := s.validateJobLocked(c, doc); msg != "" {
		return fmt.Errorf("invalid job: %s", msg)
	}
	now := s.now()
	name := doc["name"].(string)
	if old := c.jobs[name]; old != nil {
		old.doc, old.modified = doc, now
		return nil
	}
	c.jobs[name] = &job{doc: doc, created: now, modified: now, lastUsed: now}
	return nil
}

// DeleteJob removes a job.
func (s *Sim) DeleteJob(vcID, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.vcLocked(vcID)
	if err != nil {
		return err
	}
	if c.jobs[name] == nil {
		return fmt.Errorf("job %q: %w", name, ErrNotFound)
	}
	delete(c.jobs, name)
	return nil
}

// SetJobRunStatus sets a run's status (starting, running, succeeded,
// failed, killed, unknown); a terminal status also sets its end time.
func (s *Sim) SetJobRunStatus(vcID string, id int, status string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.vcLocked(vcID)
	if err != nil {
		return err
	}
	if id < 1 || id > len(c.runs) {
		return fmt.Errorf("job run %d: %w", id, ErrNotFound)
	}
	run := c.runs[id-1]
	run.status = status
	switch status {
	case "succeeded", "failed", "killed":
		run.ended = s.now()
	}
	return nil
}

// Resource returns a snapshot of a resource, its status computed at the
// simulator's current time.
func (s *Sim) Resource(vcID, name string) (ResourceInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	res, err := s.resourceLocked(vcID, name)
	if err != nil {
		return ResourceInfo{}, err
	}
	info := ResourceInfo{
		Name: res.name, Type: res.typ, Status: s.resourceStatusLocked(res),
		Signature: res.signature(), PythonVersion: res.pythonVersion, PyPiMirror: res.pyPiMirror,
	}
	if info.Status == ResourceFailed {
		info.StatusReason = res.failReason
	}
	for _, p := range slices.Sorted(maps.Keys(res.files)) {
		f := res.files[p]
		info.Files = append(info.Files, FileInfo{Path: p, Size: f.size, Signature: f.sha1})
	}
	return info, nil
}

// ResourceNames lists the resources of a virtual cluster, sorted.
func (s *Sim) ResourceNames(vcID string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.vcLocked(vcID)
	if err != nil {
		return nil, err
	}
	return slices.Sorted(maps.Keys(c.resources)), nil
}

func (s *Sim) resourceLocked(vcID, name string) (*resource, error) {
	c, err := s.vcLocked(vcID)
	if err != nil {
		return nil, err
	}
	res := c.resources[name]
	if res == nil {
		return nil, fmt.Errorf("resource %q: %w", name, ErrNotFound)
	}
	return res, nil
}

// AddResource creates a resource of type "files" or "python-env" (then
// pythonVersion is required), as POST /resources would.
func (s *Sim) AddResource(vcID, name, typ, pythonVersion string) error {
	if !validName(name) {
		return fmt.Errorf("invalid resource name %q", name)
	}
	switch {
	case typ == "files":
	case typ == "python-env" && pythonVersion != "":
	default:
		return fmt.Errorf("resource type %q (python version %q): want files, or python-env with a version", typ, pythonVersion)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.vcLocked(vcID)
	if err != nil {
		return err
	}
	if c.resources[name] != nil {
		return fmt.Errorf("resource %q already exists", name)
	}
	now := s.now()
	c.resources[name] = &resource{
		name: name, typ: typ, retention: "keep_indefinitely", pythonVersion: pythonVersion,
		created: now, modified: now, files: map[string]*storedFile{},
	}
	return nil
}

// PutFile stores a file in a resource as an upload would (for a python-env
// this starts a build).
func (s *Sim) PutFile(vcID, resourceName, path string, data []byte) error {
	if !validFilePath(path) {
		return fmt.Errorf("invalid file path %q", path)
	}
	sum := sha1.Sum(data)
	got := receivedFile{size: int64(len(data)), sha1: hex.EncodeToString(sum[:])}
	if s.keepsBytes(got.size) {
		got.data = bytes.Clone(data)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	res, err := s.resourceLocked(vcID, resourceName)
	if err != nil {
		return err
	}
	if res.typ == "python-env" {
		if path != "requirements.txt" {
			return fmt.Errorf("a python-env resource accepts only requirements.txt")
		}
		got.packages = countRequirements(data)
	}
	s.storeFileLocked(res, path, got)
	return nil
}

// FileBytes returns a copy of a stored file's content; false when the
// resource or file does not exist or only its digest was kept.
func (s *Sim) FileBytes(vcID, resourceName, path string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	res, err := s.resourceLocked(vcID, resourceName)
	if err != nil {
		return nil, false
	}
	f := res.files[path]
	if f == nil || (f.data == nil && f.size > 0) {
		return nil, false
	}
	return bytes.Clone(f.data), true
}

// FailPythonEnvBuild makes the python-env's builds end in status "failed"
// with reason (shown as pythonEnvInfo.statusReason) instead of "ready", for
// the current build and later ones; an empty reason makes builds succeed
// again.
func (s *Sim) FailPythonEnvBuild(vcID, name, reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	res, err := s.resourceLocked(vcID, name)
	if err != nil {
		return err
	}
	if res.typ != "python-env" {
		return fmt.Errorf("resource %q is of type %s, not python-env", name, res.typ)
	}
	res.failReason = reason
	return nil
}

// SetPythonEnvTiming changes Options.PythonEnvPending, PythonEnvBuild and PythonEnvStatusLag while
// the simulator runs (zero durations keep the current values of pending and build): for the
// builds that start after it.
func (s *Sim) SetPythonEnvTiming(pending, build, statusLag time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if pending > 0 {
		s.opts.PythonEnvPending = pending
	}
	if build > 0 {
		s.opts.PythonEnvBuild = build
	}
	s.opts.PythonEnvStatusLag = statusLag
}
