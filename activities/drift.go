package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/witboost-community/cde-spark-provisioner/artifacts"
	"github.com/witboost-community/cde-spark-provisioner/cde"
	"github.com/witboost-community/cde-spark-provisioner/descriptor"
)

// Fields of the differences that are not job fields (see DriftDifference).
const (
	driftFieldService = "cdeService"
	driftFieldCluster = "cdeCluster"
	driftFieldJob     = "job"
)

// Values of the differences about something present or not.
const (
	driftPresent = "present"
	driftAbsent  = "absent"
	driftRunning = "running"
)

// Notes of a report that compared nothing, or not everything.
const (
	noteNoDesiredState = "no desired state recorded: provision the component again to enable drift detection"
	noteNoManifest     = "no upload manifest recorded: the files were not compared (provision the component again to record it)"
)

// CheckDrift compares one provisioned component's job in CDE with its desired state (the job as
// the last provision sent it, and the files as its sync left them: ReadDesiredState and the
// upload manifest), and with in.Repair re-applies that state where it drifted.
//
// What cannot be compared is an answer, not an error: a service or virtual cluster missing or
// not running is a difference, a job with no desired state recorded is a Note. Only a failure to
// ask CDP, CDE or S3 is an error (classify: a transient one is retried, never taken for a drift).
// Secret conf values never leave CDE: JobChanges masks them, and nothing else carries a value.
// A repair is idempotent: run twice, it converges on the same state.
func (a *Activities) CheckDrift(ctx context.Context, in CheckDriftInput) (DriftReport, error) {
	c := in.Component
	report := DriftReport{ComponentID: c.ComponentID, Environment: c.Environment, JobName: c.JobName,
		CheckedAt: time.Now().UTC(), Differences: []DriftDifference{}}
	target, unusable, err := a.driftTarget(ctx, c)
	if err != nil {
		return DriftReport{}, err
	}
	if unusable != nil {
		report.Differences = append(report.Differences, *unusable)
		return report, nil
	}
	jobs, err := a.jobs(target)
	if err != nil {
		return DriftReport{}, err
	}
	desired, note, err := readDesiredForDrift(ctx, jobs, c)
	if err != nil || note != "" {
		report.Note = note
		return report, err
	}
	st, err := a.observeDrift(ctx, jobs, target, desired)
	if err != nil {
		return DriftReport{}, err
	}
	report.Differences = st.differences()
	notes := st.notes
	if in.Repair && len(report.Differences) > 0 {
		repaired, repairNotes, err := a.repairDrift(ctx, jobs, target, desired, st)
		if err != nil {
			return DriftReport{}, err
		}
		report.Repaired = repaired
		notes = append(notes, repairNotes...)
	}
	report.Note = strings.Join(notes, "; ")
	activity.GetLogger(ctx).Info("Drift checked", "componentId", c.ComponentID, "jobName", c.JobName,
		"differences", len(report.Differences), "repaired", len(report.Repaired))
	return report, nil
}

// driftTarget resolves the component's service and virtual cluster as ResolveTarget does (the
// Lookups cache included). Missing or not running, the answer is the difference that says so.
func (a *Activities) driftTarget(ctx context.Context, c DriftComponent) (Target, *DriftDifference, error) {
	res, err := a.lookUpTarget(ctx, ResolveInput{Service: c.Service, Cluster: c.Cluster,
		ServiceField: driftFieldService, ClusterField: driftFieldCluster})
	if err != nil {
		return Target{}, nil, err
	}
	if len(res.Problems) == 0 {
		return res.Target, nil, nil
	}
	p := res.Problems[0]
	return Target{}, &DriftDifference{Field: p.Field, Expected: driftRunning, Actual: targetState(res)}, nil
}

// targetState is what was found instead of a running service or virtual cluster.
func targetState(res Resolution) string {
	switch {
	case res.Ambiguous:
		return "ambiguous (several live services of that name)"
	case res.Found != "":
		return res.Found
	}
	return "not running"
}

// readDesiredForDrift reads the desired state recorded for the component's job. A note, with no
// error, says why there is nothing to compare: none recorded, one this provisioner cannot read,
// or one another component recorded. Only a failure to ask CDE is an error.
func readDesiredForDrift(ctx context.Context, jobs *cde.JobsClient, c DriftComponent) (DesiredState, string, error) {
	desired, found, err := ReadDesiredState(ctx, jobs, c.JobName)
	if _, isAPI := errors.AsType[*cde.APIError](err); isAPI || cde.IsTransient(err) || errors.Is(err, context.Canceled) {
		return DesiredState{}, "", classify("read the desired state of job "+c.JobName, err)
	}
	switch {
	case err != nil:
		// Written by another version, or damaged: not a drift, and retrying cannot help.
		return DesiredState{}, "desired state unreadable, nothing compared (provision the component again): " + err.Error(), nil
	case !found:
		return DesiredState{}, noteNoDesiredState, nil
	case desired.ComponentID != c.ComponentID:
		return DesiredState{}, fmt.Sprintf("the desired state recorded for job %s is component %s's, not this one's: nothing compared",
			c.JobName, componentOrNone(desired.ComponentID)), nil
	case desired.Job.Name != c.JobName:
		return DesiredState{}, fmt.Sprintf("the desired state recorded for job %s describes job %s: nothing compared", c.JobName, desired.Job.Name), nil
	}
	return desired, "", nil
}

func componentOrNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// driftState is what the check found in CDE, and how it differs from the desired state.
type driftState struct {
	job       *cde.Job // nil: absent
	jobFields []JobFieldChange
	manifest  manifest
	// manifestFound says whether the files can be compared.
	manifestFound bool
	// manifestResource is the files resource of the provisioner's bookkeeping: never compared.
	manifestResource string
	// resources are those the desired job uses and those the manifest names, by name; absent
	// ones have no entry in present.
	resources []string
	present   map[string]*cde.Resource
	// misbuilt are the present resources that are not what the job needs, by name: another type
	// (changed by hand), or a python-env of another Python version; the values say how.
	misbuilt map[string]DriftDifference
	// files are the differences of files: missing, changed, hand-added.
	files []fileDrift
	notes []string
}

// fileDrift is one file that differs from the manifest.
type fileDrift struct {
	resource, path string
	entry          manifestEntry // zero for a file added by hand
	known          bool          // in the manifest
	have           *cde.ResourceFile
}

func (f fileDrift) key() string { return f.resource + "/" + f.path }

func (f fileDrift) difference() DriftDifference {
	d := DriftDifference{Field: "file " + f.key(), Expected: driftAbsent, Actual: driftAbsent}
	if f.known {
		d.Expected = fileText(f.entry.CDESizeBytes, f.entry.CDESignature)
		if f.have == nil {
			d.Expected = sizeText(f.entry.CDESizeBytes)
		}
	}
	if f.have != nil {
		d.Actual = sizeText(f.have.SizeBytes)
		if f.known {
			d.Actual = fileText(f.have.SizeBytes, f.have.Signature)
		}
	}
	return d
}

func sizeText(n int64) string { return strconv.FormatInt(n, 10) + " bytes" }

func fileText(n int64, signature string) string {
	if signature == "" {
		return sizeText(n)
	}
	return sizeText(n) + ", signature " + signature
}

// differences lists what differs, in a stable order: the job (its fields as JobChanges orders
// them), then the resources by name, then the files by resource and path.
func (st driftState) differences() []DriftDifference {
	out := []DriftDifference{}
	if st.job == nil {
		out = append(out, DriftDifference{Field: driftFieldJob, Expected: driftPresent, Actual: driftAbsent})
	}
	for _, ch := range st.jobFields {
		out = append(out, DriftDifference{Field: ch.Field, Expected: ch.Old, Actual: ch.New})
	}
	for _, r := range st.resources {
		if st.present[r] == nil {
			out = append(out, DriftDifference{Field: "resource " + r, Expected: driftPresent, Actual: driftAbsent})
		} else if d, ok := st.misbuilt[r]; ok {
			out = append(out, d)
		}
	}
	for _, f := range st.files {
		out = append(out, f.difference())
	}
	return out
}

// observeDrift reads the job, the manifest and the resources, and compares them with desired.
func (a *Activities) observeDrift(ctx context.Context, jobs *cde.JobsClient, t Target, desired DesiredState) (driftState, error) {
	name := desired.Job.Name
	st := driftState{manifestResource: descriptor.ManifestResourceName(name), present: map[string]*cde.Resource{}}
	job, err := jobs.GetJob(ctx, name)
	switch {
	case errors.Is(err, cde.ErrNotFound):
	case err != nil:
		return driftState{}, classify(fmt.Sprintf("get job %s in virtual cluster %s", name, t.ClusterName), err)
	default:
		st.job = job
		st.jobFields = JobChanges(&desired.Job, job)
	}
	read := map[string]*cde.Resource{} // every resource read, absent ones as nil
	getResource := func(r string) (*cde.Resource, error) {
		if res, ok := read[r]; ok {
			return res, nil
		}
		res, err := jobs.GetResource(ctx, r)
		if errors.Is(err, cde.ErrNotFound) {
			res, err = nil, nil
		}
		if err != nil {
			return nil, classify(fmt.Sprintf("get resource %s in virtual cluster %s", r, t.ClusterName), err)
		}
		read[r] = res
		return res, nil
	}
	if err := a.readDriftManifest(ctx, jobs, name, getResource, &st); err != nil {
		return driftState{}, err
	}
	st.resources = driftResources(desired.Job, st.manifest, st.manifestResource)
	for _, r := range st.resources {
		res, err := getResource(r)
		if err != nil {
			return driftState{}, err
		}
		if res == nil {
			continue
		}
		st.present[r] = res
		if d, ok := misbuilt(desired.Job, r, res); ok {
			if st.misbuilt == nil {
				st.misbuilt = map[string]DriftDifference{}
			}
			st.misbuilt[r] = d
		}
		if st.manifestFound {
			st.files = append(st.files, compareFiles(r, res, st.manifest)...)
		}
	}
	return st, nil
}

// misbuilt says how a present resource differs from what the desired job needs of it: its type
// (the job's python-env is a python-env, every other resource a files one), and for the
// python-env its Python version.
func misbuilt(job cde.Job, name string, res *cde.Resource) (DriftDifference, bool) {
	want, version := cde.ResourceTypeFiles, ""
	if job.Spark != nil && name == job.Spark.PythonEnvResourceName {
		want, version = cde.ResourceTypePythonEnv, job.Spark.Conf[ConfPySpark]
	}
	field := "resource " + name
	if res.Type != want {
		return DriftDifference{Field: field, Expected: "type " + want, Actual: "type " + orUnknown(res.Type)}, true
	}
	if version != "" && res.PythonEnv != nil && res.PythonEnv.PythonVersion != "" && res.PythonEnv.PythonVersion != version {
		return DriftDifference{Field: field, Expected: "python-env " + version, Actual: "python-env " + res.PythonEnv.PythonVersion}, true
	}
	return DriftDifference{}, false
}

// readDriftManifest reads the upload manifest from its own resource or, for jobs the first
// releases provisioned, from the main resource. Unlike SyncFiles, which treats an unreadable
// one as empty (an upload of everything), the check must know there is none: every file would
// otherwise look added by hand.
func (a *Activities) readDriftManifest(ctx context.Context, jobs *cde.JobsClient, jobName string,
	getResource func(string) (*cde.Resource, error), st *driftState) error {
	for _, r := range []string{st.manifestResource, descriptor.MainResourceName(jobName)} {
		res, err := getResource(r)
		if err != nil {
			return err
		}
		if res == nil || !slices.ContainsFunc(res.Files, func(f cde.ResourceFile) bool { return f.Path == ManifestPath }) {
			continue
		}
		raw, err := jobs.DownloadSmallFile(ctx, r, ManifestPath)
		if errors.Is(err, cde.ErrNotFound) {
			continue
		}
		if err != nil {
			return classify("read the upload manifest from resource "+r, err)
		}
		var m manifest
		if err := json.Unmarshal(raw, &m); err != nil || m.Version != 1 || m.Files == nil {
			st.notes = append(st.notes, "the upload manifest in resource "+r+" is not one this provisioner wrote: the files were not compared")
			return nil
		}
		st.manifest, st.manifestFound = m, true
		return nil
	}
	st.notes = append(st.notes, noteNoManifest)
	return nil
}

// driftResources are the resources the desired job uses (its mounts and its Python environment)
// and those the manifest names files of, sorted; the manifest's own resource is bookkeeping.
func driftResources(job cde.Job, m manifest, manifestResource string) []string {
	set := map[string]bool{}
	for _, mo := range job.Mounts {
		set[mo.ResourceName] = true
	}
	if job.Spark != nil && job.Spark.PythonEnvResourceName != "" {
		set[job.Spark.PythonEnvResourceName] = true
	}
	for key := range m.Files {
		if r, _, ok := strings.Cut(key, "/"); ok {
			set[r] = true
		}
	}
	delete(set, manifestResource)
	delete(set, "")
	return slices.Sorted(maps.Keys(set))
}

// compareFiles lists the files of resource res that differ from the manifest: missing, of
// another size or signature, or not in it (added by hand), in path order. The provisioner's
// bookkeeping files are not the job's.
func compareFiles(r string, res *cde.Resource, m manifest) []fileDrift {
	have := map[string]*cde.ResourceFile{}
	for i := range res.Files {
		have[res.Files[i].Path] = &res.Files[i]
	}
	paths := map[string]bool{}
	for key := range m.Files {
		if mr, p, ok := strings.Cut(key, "/"); ok && mr == r {
			paths[p] = true
		}
	}
	for p := range have {
		if p != ManifestPath && p != DesiredStatePath {
			paths[p] = true
		}
	}
	var out []fileDrift
	for _, p := range slices.Sorted(maps.Keys(paths)) {
		entry, known := m.Files[r+"/"+p]
		f := fileDrift{resource: r, path: p, entry: entry, known: known, have: have[p]}
		switch {
		case !known, f.have == nil:
		case f.have.SizeBytes != entry.CDESizeBytes:
		case entry.CDESignature != "" && f.have.Signature != entry.CDESignature:
		default:
			continue // as recorded
		}
		out = append(out, f)
	}
	return out
}

// repairDrift re-applies the desired state: the missing resources, the files missing or changed
// (from their recorded S3 object, pinned to the recorded ETag), the files added by hand to the
// provisioner's files resources, and the job. It returns one line per action, and notes for what
// it left alone. Each step converges when run again.
func (a *Activities) repairDrift(ctx context.Context, jobs *cde.JobsClient, t Target, desired DesiredState, st driftState) (repaired, notes []string, err error) {
	name := desired.Job.Name
	if owner := JobOwner(st.job); owner != "" && owner != desired.ComponentID {
		return nil, []string{fmt.Sprintf("not repaired: job %s is owned by component %s", name, owner)}, nil
	}
	pyEnv := ""
	if desired.Job.Spark != nil {
		pyEnv = desired.Job.Spark.PythonEnvResourceName
	}
	recreated := map[string]bool{}
	for _, r := range st.resources {
		line := "created resource " + r
		if d, wrong := st.misbuilt[r]; wrong {
			// Not what the job needs (another type, another Python version): replaced.
			if err := jobs.DeleteResource(ctx, r); err != nil && !errors.Is(err, cde.ErrNotFound) {
				return nil, nil, classify(fmt.Sprintf("delete resource %s in virtual cluster %s", r, t.ClusterName), err)
			}
			line = "replaced resource " + r + " (it was " + d.Actual + ")"
		} else if st.present[r] != nil {
			continue
		}
		in := ResourceInput{Target: t, Name: r, Type: cde.ResourceTypeFiles}
		if r == pyEnv {
			in.Type = cde.ResourceTypePythonEnv
			if desired.Job.Spark != nil {
				in.PythonVersion = desired.Job.Spark.Conf[ConfPySpark]
			}
			if in.PythonVersion == "" {
				notes = append(notes, "python-env resource "+r+" not recreated: the desired job records no Python version")
				continue
			}
			in.PyMirror = desired.PyMirror
			line += " (python-env, " + in.PythonVersion
			if in.PyMirror != "" {
				line += ", PyPI mirror " + in.PyMirror
			}
			line += ")"
		}
		if _, err := createResource(ctx, jobs, in); err != nil {
			return nil, nil, err
		}
		recreated[r] = true
		repaired = append(repaired, line)
	}
	// The files of a recreated resource are all missing; the others are those that differ.
	var uploads []fileDrift
	if st.manifestFound {
		for _, key := range slices.Sorted(maps.Keys(st.manifest.Files)) {
			if r, p, ok := strings.Cut(key, "/"); ok && recreated[r] {
				uploads = append(uploads, fileDrift{resource: r, path: p, entry: st.manifest.Files[key], known: true})
			}
		}
	}
	for _, f := range st.files {
		if f.known && !recreated[f.resource] { // a recreated resource's files are all above
			uploads = append(uploads, f)
		}
	}
	for _, f := range uploads {
		line, note, err := a.restoreFile(ctx, jobs, f)
		if err != nil {
			return nil, nil, err
		}
		if line != "" {
			repaired = append(repaired, line)
		}
		if note != "" {
			notes = append(notes, note)
		}
	}
	for _, f := range st.files {
		if f.known || f.have == nil || recreated[f.resource] || st.present[f.resource] == nil || st.present[f.resource].Type != cde.ResourceTypeFiles {
			continue
		}
		if err := jobs.DeleteResourceFile(ctx, f.resource, f.path); err != nil && !errors.Is(err, cde.ErrNotFound) {
			return nil, nil, classify(fmt.Sprintf("remove %s from resource %s", f.path, f.resource), err)
		}
		repaired = append(repaired, "removed file "+f.key()+" added by hand")
	}
	line, err := a.restoreJob(ctx, jobs, t, desired.Job, st)
	if err != nil {
		return nil, nil, err
	}
	if line != "" {
		repaired = append(repaired, line)
	}
	return repaired, notes, nil
}

// restoreFile uploads a file again from the S3 object the manifest records, pinned to the
// recorded ETag: an object changed or deleted since is left alone (note), never uploaded in its
// place, since only a provision may bring a new version.
func (a *Activities) restoreFile(ctx context.Context, jobs *cde.JobsClient, f fileDrift) (line, note string, err error) {
	loc, err := descriptor.ParseS3Location(f.entry.Source)
	if err != nil || loc.Basename() != f.path || f.entry.ETag == "" {
		return "", "file " + f.key() + " not restored: the manifest records no usable S3 source for it", nil
	}
	if a.Store == nil {
		return "", "file " + f.key() + " not restored: this worker reads no artifacts from S3", nil
	}
	var sent int64
	open := func() (io.ReadCloser, error) {
		body, _, err := a.Store.OpenIfMatch(ctx, loc, f.entry.ETag)
		a.Metrics.s3(ctx, "get", err, errors.Is(err, artifacts.ErrNotFound))
		if err != nil {
			return nil, err
		}
		return &progressReader{r: body, closer: body, progress: func(n int64) {
			sent += n
			a.Metrics.uploaded(ctx, n)
			if activity.IsActivity(ctx) {
				activity.RecordHeartbeat(ctx, sent)
			}
		}}, nil
	}
	err = jobs.UploadFileFrom(ctx, f.resource, f.path, open, f.entry.Size)
	switch {
	case errors.Is(err, artifacts.ErrChanged):
		return "", fmt.Sprintf("file %s not restored: %s changed on S3 since the last provision (provision the component again to deploy it)", f.key(), loc), nil
	case errors.Is(err, artifacts.ErrNotFound):
		return "", fmt.Sprintf("file %s not restored: %s is gone from S3", f.key(), loc), nil
	case err != nil:
		return "", "", classify(fmt.Sprintf("restore %s to resource %s from %s", f.path, f.resource, loc), err, artifacts.IsTransient)
	}
	return fmt.Sprintf("uploaded file %s from %s (%d bytes)", f.key(), loc, f.entry.Size), "", nil
}

// restoreJob creates the job when absent, or updates it when its fields differ, with the job as
// the last provision sent it (its owner conf included).
func (a *Activities) restoreJob(ctx context.Context, jobs *cde.JobsClient, t Target, job cde.Job, st driftState) (string, error) {
	what := fmt.Sprintf("job %s in virtual cluster %s", job.Name, t.ClusterName)
	switch {
	case st.job == nil:
		err := jobs.CreateJob(ctx, job)
		if errors.Is(err, cde.ErrConflict) {
			// Created meanwhile (an earlier attempt of this repair): made equal to the desired one.
			err = jobs.UpdateJob(ctx, job)
		}
		if err != nil {
			return "", classify("create "+what, err)
		}
		return "created job " + job.Name, nil
	case len(st.jobFields) > 0:
		if err := jobs.UpdateJob(ctx, job); err != nil {
			return "", classify("update "+what, err)
		}
		fields := make([]string, len(st.jobFields))
		for i, ch := range st.jobFields {
			fields[i] = ch.Field
		}
		return "updated job " + job.Name + ": " + strings.Join(fields, ", "), nil
	}
	return "", nil
}
