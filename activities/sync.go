package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"golang.org/x/sync/errgroup"

	"github.com/witboost-community/cde-spark-provisioner/cde"
)

// ManifestPath is the provisioner's bookkeeping file in a job's main resource. It records, for
// every file the provisioner uploaded, the S3 object it came from (location, ETag, size) and what
// CDE reported for the file right after (its signature and size).
//
// Skipping an upload is safe only when both sides are provably unchanged, so a file is skipped
// when, and only when, the manifest says it was uploaded from an S3 object with the same
// location, ETag and size as now, AND the resource still holds a file at that path with the
// signature and size recorded then. S3 changes an object's ETag whenever its content changes;
// CDE's signature changes whenever the stored file does (whatever hash it is, which the API does
// not document: it is only compared with itself). Anything missing, unreadable or different
// means "upload". The worst a lost or stale manifest can cause is an extra upload, never a
// skipped one.
const ManifestPath = ".cde-spark-provisioner.json"

// livenessInterval is how often SyncFiles heartbeats, from its start to its end, whatever it
// waits on (the SDK throttles what reaches the server; the worker caps that throttle, see
// internal/app).
const livenessInterval = 2 * time.Second

// DefaultUploadConcurrency bounds the uploads of one provision running at once.
const DefaultUploadConcurrency = 16

// manifest is the content of ManifestPath.
type manifest struct {
	Version int                      `json:"version"`
	Files   map[string]manifestEntry `json:"files"` // by "<resource>/<path>"
	// Owner is the component whose resources these are (descriptor.ConfOwnerKey records it on
	// the job): with the job gone, it still keeps another component from deleting them.
	Owner string `json:"owner,omitempty"`
}

type manifestEntry struct {
	Source       string `json:"source"` // s3://bucket/key
	ETag         string `json:"etag"`
	Size         int64  `json:"size"`
	CDESignature string `json:"cdeSignature"`
	CDESizeBytes int64  `json:"cdeSizeBytes"`
}

// SyncInput is the desired content of a job's resources: each file comes from an S3 object and
// is stored under its basename.
type SyncInput struct {
	Target Target `json:"target"`
	// ManifestResource is the files resource that keeps the manifest: a resource of its own that
	// the job does not mount (descriptor.ManifestResourceName), created when first written; the
	// main resource itself for runs of the first releases.
	ManifestResource string `json:"manifestResource"`
	// LegacyManifestResource is where the first releases kept the manifest (the main resource):
	// read when ManifestResource has none yet, so the first provision after the move still skips
	// the unchanged files; the file there is then pruned like any file the descriptor does not list.
	LegacyManifestResource string          `json:"legacyManifestResource,omitempty"`
	Resources              []ResourceFiles `json:"resources"`
	// ComponentID owns the resources: RecordManifest records it in the manifest.
	ComponentID string `json:"componentId,omitempty"`
	// OwnerCheck, when set, has SyncFiles refuse (ErrTypeOwnership) a job that another component
	// owns, before anything is uploaded: the job's owner, or with the job gone its manifest's, is
	// read beside the first round of requests (lean runs; earlier runs checked in ResolveTarget).
	OwnerCheck *OwnerCheck `json:"ownerCheck,omitempty"`
}

// OwnerCheck names the job whose owner SyncFiles checks against SyncInput.ComponentID.
type OwnerCheck struct {
	JobName string `json:"jobName"`
	// JobField is the job name's field in the descriptor, for the problem of a collision.
	JobField string `json:"jobField"`
}

// ResourceFiles is the desired content of one resource, which SyncFiles creates if needed.
type ResourceFiles struct {
	Resource string `json:"resource"`
	// Type is files or python-env; PythonVersion and PyMirror are set for python-env.
	Type          string           `json:"type"`
	PythonVersion string           `json:"pythonVersion,omitempty"`
	PyMirror      string           `json:"pyMirror,omitempty"`
	Objects       []ArtifactObject `json:"objects"`
	// Prune removes files the descriptor no longer lists (files resources; a python-env holds only
	// its requirements.txt).
	Prune bool `json:"prune,omitempty"`
}

// SyncResult says what was done to every resource and file.
type SyncResult struct {
	Resources []ResourceSync `json:"resources"`
	Files     []FileSync     `json:"files"`
	BytesSent int64          `json:"bytesSent"`
	// ManifestStale says the manifest does not describe the resources any more: RecordManifest
	// must run (the workflow runs it beside the job upsert, off the critical path).
	ManifestStale bool `json:"manifestStale,omitempty"`
	// Unlisted are the files of the resources synced without Prune that the descriptor does not
	// list: what PruneFiles will remove once the job no longer references them (nothing to call
	// when empty).
	Unlisted []FileSync `json:"unlisted,omitempty"`
	// JobAbsent says the job did not exist when the OwnerCheck read it (false without one).
	JobAbsent bool `json:"jobAbsent,omitempty"`
}

// ResourceSync says what SyncFiles did to a resource.
type ResourceSync struct {
	Resource string `json:"resource"`
	EnsureResult
}

// FileSync is what happened to one file.
type FileSync struct {
	Resource string `json:"resource"`
	Path     string `json:"path"`
	Action   string `json:"action"` // uploaded, unchanged, removed
	Bytes    int64  `json:"bytes,omitempty"`
	Source   string `json:"source,omitempty"`
}

// Sync actions.
const (
	ActionUploaded  = "uploaded"
	ActionUnchanged = "unchanged"
	ActionRemoved   = "removed"
)

// SyncProgress is the heartbeat of SyncFiles: the files already uploaded by this activity, so
// that an attempt on another worker (after a crash) goes on with the next files instead of
// starting again, and the bytes sent so far, for the Temporal UI.
type SyncProgress struct {
	Done      []string `json:"done"`
	BytesSent int64    `json:"bytesSent"`
}

// SyncFiles makes the job's resources hold exactly the descriptor's artifacts: files that
// changed are streamed from S3 into CDE in parallel (bounded by UploadConcurrency), unchanged
// files are left alone (see ManifestPath for what is compared), files no longer listed are
// removed, and the manifest is rewritten last. It is idempotent: run again, it converges on the
// same content with nothing to upload.
func (a *Activities) SyncFiles(ctx context.Context, in SyncInput) (SyncResult, error) {
	jobs, err := a.jobs(in.Target)
	if err != nil {
		return SyncResult{}, err
	}
	hb := startHeartbeats(ctx, in)
	defer hb.stop()

	var result SyncResult
	current, own, err := a.firstRound(ctx, jobs, in, &result)
	if err != nil {
		return SyncResult{}, err
	}
	old, moved, err := a.currentManifest(ctx, jobs, in, current, own)
	if err != nil {
		return SyncResult{}, err
	}
	p := planSync(in, current, old, hb.done())
	result.Files, result.Unlisted = p.files, p.unlisted
	for _, rf := range in.Resources {
		if rf.Prune {
			// Runs of the first releases prune here, before the uploads; later ones leave Prune
			// off and call PruneFiles once the job no longer references the files.
			removed, err := prune(ctx, jobs, rf, in.ManifestResource, current[rf.Resource])
			if err != nil {
				return SyncResult{}, err
			}
			result.Files = append(result.Files, removed...)
		}
	}
	uploaded, err := a.uploadAll(ctx, jobs, in.Target, p.uploads, hb)
	if err != nil {
		return SyncResult{}, err
	}
	result.Files = append(result.Files, uploaded...)
	for _, f := range result.Files {
		result.BytesSent += f.Bytes
		a.Metrics.file(ctx, f.Action)
	}
	result.ManifestStale = moved || manifestStale(in, old, result.Files) || (in.ComponentID != "" && old.Owner != in.ComponentID)
	sort.Slice(result.Files, func(i, j int) bool {
		if result.Files[i].Resource != result.Files[j].Resource {
			return result.Files[i].Resource < result.Files[j].Resource
		}
		return result.Files[i].Path < result.Files[j].Path
	})
	return result, nil
}

// syncHeartbeats are SyncFiles' heartbeats: the progress (files done, bytes sent), recorded on
// every change and on a ticker from the activity's start. The ticker matters as much as the
// bytes: the resource checks, the manifest read and the prune wait on CDE too (a slow answer, the
// cde client's own retries), and a server that takes its time to answer after receiving a large
// file is not a dead worker either; none of that must make Temporal start the activity over.
type syncHeartbeats struct {
	ctx      context.Context
	mu       sync.Mutex // guards progress
	progress SyncProgress
	doneKeys map[string]bool // of the attempts before this one
	stopped  chan struct{}
}

// startHeartbeats resumes the progress an earlier attempt heartbeated and starts the ticker.
func startHeartbeats(ctx context.Context, in SyncInput) *syncHeartbeats {
	hb := &syncHeartbeats{ctx: ctx, doneKeys: map[string]bool{}, stopped: make(chan struct{})}
	if activity.HasHeartbeatDetails(ctx) {
		if err := activity.GetHeartbeatDetails(ctx, &hb.progress); err != nil {
			activity.GetLogger(ctx).Warn("cannot read the previous attempt's progress; checking every file again", "error", err)
			hb.progress = SyncProgress{}
		}
	}
	for _, k := range hb.progress.Done {
		hb.doneKeys[k] = true
	}
	// The bytes sent so far are those of the files done: what an attempt that failed sent of
	// the others is sent again, and counted once.
	hb.progress.BytesSent = 0
	for _, rf := range in.Resources {
		for _, obj := range rf.Objects {
			if hb.doneKeys[fileKey(rf.Resource, obj)] {
				hb.progress.BytesSent += obj.Size
			}
		}
	}
	go func() {
		tick := time.NewTicker(livenessInterval)
		defer tick.Stop()
		for {
			select {
			case <-hb.stopped:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
				hb.sent(0)
			}
		}
	}()
	return hb
}

func (hb *syncHeartbeats) stop() { close(hb.stopped) }

// done are the files (resource/path) that earlier attempts uploaded.
func (hb *syncHeartbeats) done() map[string]bool { return hb.doneKeys }

// sent records delta more bytes sent (negative: an attempt's bytes taken back).
func (hb *syncHeartbeats) sent(delta int64) {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	hb.progress.BytesSent += delta
	activity.RecordHeartbeat(hb.ctx, hb.progress)
}

// uploaded records a file done, so that an attempt after a crash does not send it again.
func (hb *syncHeartbeats) uploaded(key string) {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	hb.progress.Done = append(hb.progress.Done, key)
	activity.RecordHeartbeat(hb.ctx, hb.progress)
}

func fileKey(resource string, obj ArtifactObject) string {
	return resource + "/" + obj.Artifact.Location.Basename()
}

// upload is a file to send: an S3 object into a resource.
type upload struct {
	resource string
	obj      ArtifactObject
}

// syncPlan is what SyncFiles does to each file the descriptor lists, and the files it does not.
type syncPlan struct {
	uploads  []upload   // in the descriptor's order: the application file first
	files    []FileSync // unchanged, and uploaded by an earlier attempt
	unlisted []FileSync // in resources without Prune: PruneFiles' work, once the job is updated
}

// planSync decides, file by file, from what the resources hold (current), the manifest (old) and
// the files earlier attempts uploaded (done): upload, or leave unchanged.
func planSync(in SyncInput, current map[string]map[string]cde.ResourceFile, old manifest, done map[string]bool) syncPlan {
	var p syncPlan
	for _, rf := range in.Resources {
		for _, obj := range rf.Objects {
			path := obj.Artifact.Location.Basename()
			key := fileKey(rf.Resource, obj)
			entry, known := old.Files[key]
			have, present := current[rf.Resource][path]
			switch {
			case done[key]:
				// Uploaded by an earlier attempt of this activity.
				p.files = append(p.files, FileSync{Resource: rf.Resource, Path: path, Action: ActionUploaded, Bytes: obj.Size, Source: obj.Artifact.Location.String()})
			case known && present && unchanged(entry, obj, have):
				p.files = append(p.files, FileSync{Resource: rf.Resource, Path: path, Action: ActionUnchanged, Source: obj.Artifact.Location.String()})
			default:
				p.uploads = append(p.uploads, upload{rf.Resource, obj})
			}
		}
		if !rf.Prune {
			p.unlisted = append(p.unlisted, unlisted(rf, in.ManifestResource, current[rf.Resource])...)
		}
	}
	return p
}

// uploadAll sends the uploads side by side, at most UploadConcurrency at once, in order (a
// slot is taken before a file starts). The first failure cancels the others; the files done
// before it are in the heartbeats, so the retry does not send them again.
func (a *Activities) uploadAll(ctx context.Context, jobs *cde.JobsClient, t Target, uploads []upload, hb *syncHeartbeats) ([]FileSync, error) {
	limit := a.UploadConcurrency
	if limit <= 0 {
		limit = DefaultUploadConcurrency
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(limit)
	var (
		mu    sync.Mutex
		files []FileSync
	)
	for _, u := range uploads {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			n, err := a.upload(gctx, jobs, UploadInput{Target: t, Resource: u.resource, Object: u.obj}, hb.sent)
			if err != nil {
				return err
			}
			hb.uploaded(fileKey(u.resource, u.obj))
			mu.Lock()
			defer mu.Unlock()
			files = append(files, FileSync{Resource: u.resource, Path: u.obj.Artifact.Location.Basename(),
				Action: ActionUploaded, Bytes: n, Source: u.obj.Artifact.Location.String()})
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return files, nil
}

// firstRound asks side by side what nothing else waits for: the creation of each resource (and
// of the manifest's own resource), the manifest, and with an OwnerCheck the job. A creation
// changes nothing that exists, so it may go before the owner is known; only then are the
// resources that existed read (and a python-env of another Python version rebuilt). A new
// component's first round is all its uploads wait for.
func (a *Activities) firstRound(ctx context.Context, jobs *cde.JobsClient, in SyncInput, result *SyncResult) (map[string]map[string]cde.ResourceFile, ownManifest, error) {
	var (
		wg      sync.WaitGroup
		own     ownManifest
		job     *cde.Job
		jobErr  error
		created = make([]bool, len(in.Resources))
		errs    = make([]error, len(in.Resources)+1)
	)
	if !in.manifestAmongResources() {
		wg.Go(func() { own = a.readOwnManifest(ctx, jobs, in) })
		if in.OwnerCheck != nil {
			// Created now so that RecordManifest can write into it at once.
			wg.Go(func() {
				_, errs[len(in.Resources)] = createResource(ctx, jobs, ResourceInput{Target: in.Target, Name: in.ManifestResource, Type: cde.ResourceTypeFiles})
			})
		}
	}
	if in.OwnerCheck != nil {
		wg.Go(func() { job, jobErr = jobs.GetJob(ctx, in.OwnerCheck.JobName) })
	}
	for i, rf := range in.Resources {
		wg.Go(func() { created[i], errs[i] = createResource(ctx, jobs, resourceInput(in.Target, rf)) })
	}
	wg.Wait()
	if oc := in.OwnerCheck; oc != nil {
		owner := ""
		switch {
		case jobErr == nil:
			owner = JobOwner(job)
		case errors.Is(jobErr, cde.ErrNotFound):
			result.JobAbsent = true
			if own.err != nil {
				return nil, own, own.err
			}
			owner = own.m.Owner
		default:
			return nil, own, classify(fmt.Sprintf("get job %s in virtual cluster %s", oc.JobName, in.Target.ClusterName), jobErr)
		}
		if owner != "" && in.ComponentID != "" && owner != in.ComponentID {
			return nil, own, ownedByAnother(oc.JobField, oc.JobName, owner, in.ComponentID)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, own, firstError(errs)
	}
	current := map[string]map[string]cde.ResourceFile{} // resource → path → file
	for i, rf := range in.Resources {
		ensured, files := EnsureResult{Created: true}, map[string]cde.ResourceFile{}
		if !created[i] {
			var err error
			if ensured, files, err = a.existingResource(ctx, jobs, resourceInput(in.Target, rf)); err != nil {
				return nil, own, err
			}
		}
		current[rf.Resource] = files
		result.Resources = append(result.Resources, ResourceSync{Resource: rf.Resource, EnsureResult: ensured})
	}
	return current, own, nil
}

func resourceInput(t Target, rf ResourceFiles) ResourceInput {
	return ResourceInput{Target: t, Name: rf.Resource, Type: rf.Type, PythonVersion: rf.PythonVersion, PyMirror: rf.PyMirror}
}

// firstError is the first non-nil error: a step's error as it is (its application error type
// decides the retries), not joined with others.
func firstError(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func unchanged(entry manifestEntry, obj ArtifactObject, have cde.ResourceFile) bool {
	return entry.Source == obj.Artifact.Location.String() && entry.ETag != "" && entry.ETag == obj.ETag &&
		entry.Size == obj.Size && entry.CDESignature != "" && entry.CDESignature == have.Signature &&
		entry.CDESizeBytes == have.SizeBytes
}

// resourceFiles lists a resource's files by path.
func (a *Activities) resourceFiles(ctx context.Context, jobs *cde.JobsClient, t Target, name string) (map[string]cde.ResourceFile, error) {
	res, err := jobs.GetResource(ctx, name)
	if errors.Is(err, cde.ErrNotFound) {
		// SyncFiles created it; a CDE that does not show it yet is caught up on retry.
		return nil, temporal.NewApplicationError(fmt.Sprintf("resource %s in virtual cluster %s is not visible yet", name, t.ClusterName), ErrTypeTransient)
	}
	if err != nil {
		return nil, classify(fmt.Sprintf("get resource %s in virtual cluster %s", name, t.ClusterName), err)
	}
	files := make(map[string]cde.ResourceFile, len(res.Files))
	for _, f := range res.Files {
		files[f.Path] = f
	}
	return files, nil
}

// readManifest reads the manifest, or returns an empty one when there is none or it cannot be
// read: the cost is an upload of every file, never a wrong skip.
func (a *Activities) readManifest(ctx context.Context, jobs *cde.JobsClient, resource string, files map[string]cde.ResourceFile) manifest {
	empty := manifest{Version: 1, Files: map[string]manifestEntry{}}
	if _, ok := files[ManifestPath]; !ok {
		return empty
	}
	raw, err := jobs.DownloadSmallFile(ctx, resource, ManifestPath)
	if err != nil {
		activity.GetLogger(ctx).Warn("cannot read the upload manifest; every file will be uploaded", "resource", resource, "error", err)
		return empty
	}
	var m manifest
	if err := json.Unmarshal(raw, &m); err != nil || m.Version != 1 || m.Files == nil {
		activity.GetLogger(ctx).Warn("the upload manifest is not one this provisioner wrote; every file will be uploaded", "resource", resource)
		return empty
	}
	return m
}

// manifestStale says whether the manifest must be rewritten: something was uploaded or removed,
// or it does not list exactly the desired files (a file added or dropped as unchanged... or a
// manifest lost).
func manifestStale(in SyncInput, old manifest, files []FileSync) bool {
	for _, f := range files {
		if f.Action != ActionUnchanged {
			return true
		}
	}
	n := 0
	for _, rf := range in.Resources {
		for _, obj := range rf.Objects {
			if _, ok := old.Files[rf.Resource+"/"+obj.Artifact.Location.Basename()]; !ok {
				return true
			}
			n++
		}
	}
	return n != len(old.Files)
}

// RecordManifest writes the manifest of what the resources hold now, as CDE reports it after
// SyncFiles, so that the next provision skips the files that will not have changed. Until it
// has run, the worst case is that the next provision uploads again. When the manifest already
// says the same it writes nothing: an unchanged redeploy sends no byte at all.
func (a *Activities) RecordManifest(ctx context.Context, in SyncInput) error {
	jobs, err := a.jobs(in.Target)
	if err != nil {
		return err
	}
	m := manifest{Version: 1, Files: map[string]manifestEntry{}, Owner: in.ComponentID}
	var old manifest
	// Its own resource is read beside the job's resources, and created on first use (a 409
	// means a concurrent attempt created it).
	own := make(chan ownManifest, 1)
	if in.manifestAmongResources() {
		own <- ownManifest{}
	} else {
		go func() { own <- a.readOwnManifest(ctx, jobs, in) }()
	}
	for _, rf := range in.Resources {
		files, err := a.resourceFiles(ctx, jobs, in.Target, rf.Resource)
		if err != nil {
			return err
		}
		if rf.Resource == in.ManifestResource {
			old = a.readManifest(ctx, jobs, in.ManifestResource, files)
		}
		for _, obj := range rf.Objects {
			path := obj.Artifact.Location.Basename()
			f, ok := files[path]
			if !ok {
				return temporal.NewApplicationError(fmt.Sprintf("%s was uploaded to resource %s but CDE does not list it yet", path, rf.Resource), ErrTypeTransient)
			}
			m.Files[rf.Resource+"/"+path] = manifestEntry{
				Source: obj.Artifact.Location.String(), ETag: obj.ETag, Size: obj.Size,
				CDESignature: f.Signature, CDESizeBytes: f.SizeBytes,
			}
		}
	}
	if o := <-own; !in.manifestAmongResources() {
		if o.err != nil {
			return o.err
		}
		old = o.m
	}
	if maps.Equal(m.Files, old.Files) && m.Owner == old.Owner {
		return nil
	}
	raw, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	write := func() error {
		return jobs.UploadFile(ctx, in.ManifestResource, ManifestPath, bytesReader(raw), int64(len(raw)))
	}
	err = write()
	if err != nil && !in.manifestAmongResources() && !cde.IsTransient(err) && !errors.Is(err, cde.ErrUnauthorized) && !errors.Is(err, cde.ErrForbidden) {
		// Written straight away, its own resource is usually there (SyncFiles creates it); a
		// refusal (a 404, or whatever else a CDE answers for a missing resource) is tried once
		// more after creating it.
		if _, cerr := createResource(ctx, jobs, ResourceInput{Target: in.Target, Name: in.ManifestResource, Type: cde.ResourceTypeFiles}); cerr != nil {
			return cerr
		}
		err = write()
	}
	if err != nil {
		return classify("write the upload manifest to resource "+in.ManifestResource, err)
	}
	return nil
}

// PruneResult lists the files PruneFiles removed.
type PruneResult struct {
	Files []FileSync `json:"files"`
}

// PruneFiles removes from each resource marked Prune the files its objects do not name (the
// manifest excepted). Provision runs it after the job upsert: until the job is updated, the
// deployed job may still reference those files, and a provision that fails before must leave
// that job runnable. A file already gone is success, so a retry converges.
func (a *Activities) PruneFiles(ctx context.Context, in SyncInput) (PruneResult, error) {
	jobs, err := a.jobs(in.Target)
	if err != nil {
		return PruneResult{}, err
	}
	var out PruneResult
	for _, rf := range in.Resources {
		if !rf.Prune {
			continue
		}
		files, err := a.resourceFiles(ctx, jobs, in.Target, rf.Resource)
		if err != nil {
			return PruneResult{}, err
		}
		removed, err := prune(ctx, jobs, rf, in.ManifestResource, files)
		if err != nil {
			return PruneResult{}, err
		}
		out.Files = append(out.Files, removed...)
	}
	for _, f := range out.Files {
		a.Metrics.file(ctx, f.Action)
	}
	return out, nil
}

// prune deletes the files of a resource (files, by path) that rf's objects do not name.
func prune(ctx context.Context, jobs *cde.JobsClient, rf ResourceFiles, manifestResource string, files map[string]cde.ResourceFile) ([]FileSync, error) {
	var removed []FileSync
	for _, f := range unlisted(rf, manifestResource, files) {
		if err := jobs.DeleteResourceFile(ctx, rf.Resource, f.Path); err != nil && !errors.Is(err, cde.ErrNotFound) {
			return nil, classify(fmt.Sprintf("remove %s from resource %s", f.Path, rf.Resource), err)
		}
		removed = append(removed, FileSync{Resource: rf.Resource, Path: f.Path, Action: ActionRemoved})
	}
	return removed, nil
}

// unlisted are the files of a resource (files, by path) that rf's objects do not name, the
// manifest excepted, in path order.
func unlisted(rf ResourceFiles, manifestResource string, files map[string]cde.ResourceFile) []FileSync {
	wanted := map[string]bool{}
	for _, obj := range rf.Objects {
		wanted[obj.Artifact.Location.Basename()] = true
	}
	var out []FileSync
	for _, path := range slices.Sorted(maps.Keys(files)) {
		if !wanted[path] && !(rf.Resource == manifestResource && path == ManifestPath) {
			out = append(out, FileSync{Resource: rf.Resource, Path: path})
		}
	}
	return out
}

// manifestAmongResources says whether the manifest lives in one of the job's resources (the
// layout of the first releases) rather than in a resource of its own.
func (in SyncInput) manifestAmongResources() bool {
	for _, rf := range in.Resources {
		if rf.Resource == in.ManifestResource {
			return true
		}
	}
	return false
}

// ownManifest is what a resource of the manifest's own holds: its manifest, if it has one.
type ownManifest struct {
	m     manifest
	found bool
	err   error
}

// readOwnManifest reads the manifest from its own resource (in.ManifestResource).
func (a *Activities) readOwnManifest(ctx context.Context, jobs *cde.JobsClient, in SyncInput) ownManifest {
	res, err := jobs.GetResource(ctx, in.ManifestResource)
	switch {
	case errors.Is(err, cde.ErrNotFound):
		return ownManifest{}
	case err != nil:
		return ownManifest{err: classify(fmt.Sprintf("get resource %s in virtual cluster %s", in.ManifestResource, in.Target.ClusterName), err)}
	}
	files := make(map[string]cde.ResourceFile, len(res.Files))
	for _, f := range res.Files {
		files[f.Path] = f
	}
	if _, ok := files[ManifestPath]; !ok {
		return ownManifest{}
	}
	return ownManifest{m: a.readManifest(ctx, jobs, in.ManifestResource, files), found: true}
}

// currentManifest is the manifest where in says it is (own: what readOwnManifest found, when it
// lives in a resource of its own). With none there yet, it is the one the first releases left
// in LegacyManifestResource, if any; moved then says it must be written to its own resource
// (RecordManifest), even if nothing changed.
func (a *Activities) currentManifest(ctx context.Context, jobs *cde.JobsClient, in SyncInput, current map[string]map[string]cde.ResourceFile, own ownManifest) (m manifest, moved bool, err error) {
	if in.manifestAmongResources() {
		return a.readManifest(ctx, jobs, in.ManifestResource, current[in.ManifestResource]), false, nil
	}
	switch {
	case own.err != nil:
		return manifest{}, false, own.err
	case own.found:
		return own.m, false, nil
	case in.LegacyManifestResource != "":
		return a.readManifest(ctx, jobs, in.LegacyManifestResource, current[in.LegacyManifestResource]), true, nil
	}
	return manifest{Version: 1, Files: map[string]manifestEntry{}}, false, nil
}
