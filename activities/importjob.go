package activities

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/witboost-community/cde-spark-provisioner/artifacts"
	"github.com/witboost-community/cde-spark-provisioner/cde"
	"github.com/witboost-community/cde-spark-provisioner/descriptor"
)

// Reverse provisioning: an existing Spark job of a virtual cluster becomes a component's
// specific. PlanImport reads the job and its resources and decides, writing nothing, where each
// of its files will be on S3; CopyImport then streams the files to copy from CDE to S3. Every
// refusal (a job that is absent or not a Spark job, a file that cannot be found, a destination
// that holds something else) comes from PlanImport, so a refused import writes nothing.

// ErrTypeImport is a job that cannot be imported as it is; its message names the cause.
const ErrTypeImport = "ImportRefused"

// S3 user metadata of the objects an import writes: where the copy comes from, so that a retried
// import recognises its own copy, and an import never overwrites an object it did not write.
const (
	MetaImportSource    = "cde-import-source"    // <vc id>/<resource>/<path>
	MetaImportSignature = "cde-import-signature" // the CDE file's signature
)

// Conf keys the provisioner sets itself: an import leaves them out of jobConfig.conf, since a
// provision sets them again (the owner, the idbroker hosts, the Python interpreter, and Safari
// when it is on, the default).
var managedConfKeys = []string{descriptor.ConfOwnerKey, ConfIDBrokerHosts, ConfPySpark}

// ImportInput is what PlanImport imports, and where to.
type ImportInput struct {
	Target  Target `json:"target"`
	JobName string `json:"jobName"`
	// Prefix is the s3://bucket/prefix/ the job's files are copied under (ends with "/").
	Prefix string `json:"prefix"`
	// ComponentID and Environment name the component the job becomes: its job name follows
	// the convention (descriptor.ExpectedJobName).
	ComponentID string          `json:"componentId"`
	Environment string          `json:"environment"`
	Scope       artifacts.Scope `json:"scope"`
}

// Import file actions.
const (
	ImportCopy   = "copy"   // streamed from its resource to To
	ImportCopied = "copied" // To already holds this copy (an earlier attempt wrote it)
	ImportReuse  = "reuse"  // a provision of this provisioner uploaded it from To, unchanged since
	ImportOnS3   = "on-s3"  // the job reads it from S3 itself
)

// ImportFile is one file of the imported job.
type ImportFile struct {
	Role      descriptor.ArtifactRole `json:"role"`
	Resource  string                  `json:"resource,omitempty"`
	Path      string                  `json:"path,omitempty"`
	Size      int64                   `json:"size"`
	Signature string                  `json:"signature,omitempty"`
	// To is the file's S3 location in the specific.
	To     string `json:"to"`
	Action string `json:"action"`
}

// ImportNote is a line of the import's logs.
type ImportNote struct {
	Level   string `json:"level"` // INFO or WARNING
	Message string `json:"message"`
}

// ImportPlan is the job as a component's specific, and what it takes to get its files to S3.
type ImportPlan struct {
	Specific descriptor.Specific `json:"specific"`
	// Fields is Specific in the descriptor's own field names: the answer's updates.
	Fields map[string]any `json:"fields"`
	// Job is the name of the imported job, which may differ from Specific.JobName (the
	// convention's name).
	Job   string       `json:"job"`
	Files []ImportFile `json:"files"`
	Notes []ImportNote `json:"notes,omitempty"`
	// VcID identifies the virtual cluster in the copies' metadata.
	VcID string `json:"vcId"`
}

// importRefused is a permanent refusal of an import.
func importRefused(format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), ErrTypeImport, nil)
}

// PlanImport reads the job and its resources and plans its import; it writes nothing.
func (a *Activities) PlanImport(ctx context.Context, in ImportInput) (ImportPlan, error) {
	prefix, err := importPrefix(in.Prefix)
	if err != nil {
		return ImportPlan{}, importRefused("artifactsPrefix %q: %v", in.Prefix, err)
	}
	if !a.Allowed.AllowsPrefix(prefix, in.Scope) {
		return ImportPlan{}, importRefused("artifactsPrefix %s is outside the S3 locations this provisioner may use (S3_ALLOWED_PREFIXES: %s)", prefix, a.Allowed)
	}
	jobs, err := a.jobs(in.Target)
	if err != nil {
		return ImportPlan{}, err
	}
	where := fmt.Sprintf("virtual cluster %s of CDE service %s", in.Target.ClusterName, in.Target.ServiceName)
	job, err := jobs.GetJob(ctx, in.JobName)
	switch {
	case errors.Is(err, cde.ErrNotFound):
		return ImportPlan{}, importRefused("there is no job %s in %s", in.JobName, where)
	case err != nil:
		return ImportPlan{}, classify("get job "+in.JobName+" in "+where, err)
	case job.Type != cde.JobTypeSpark || job.Spark == nil:
		return ImportPlan{}, importRefused("job %s in %s is an %s job: only Spark jobs can be imported", in.JobName, where, orUnknown(job.Type))
	case job.Spark.File == "":
		return ImportPlan{}, importRefused("job %s in %s has no application file (spark.file)", in.JobName, where)
	}

	imp := importer{a: a, jobs: jobs, job: job, prefix: prefix, where: where, vc: in.Target.VcID, resources: map[string]*cde.Resource{}}
	plan, err := imp.plan(ctx, in)
	if err != nil {
		return ImportPlan{}, err
	}
	plan.VcID = in.Target.VcID
	if plan.Fields, err = plan.Specific.DescriptorFields(); err != nil {
		return ImportPlan{}, fmt.Errorf("write the specific of job %s: %w", in.JobName, err)
	}
	return plan, nil
}

// importPrefix parses the artifacts prefix: s3://bucket/ or s3://bucket/some/prefix/ (a missing
// final "/" is added: the prefix is a folder).
func importPrefix(p string) (descriptor.S3Location, error) {
	rest, ok := strings.CutPrefix(p, "s3://")
	if !ok {
		return descriptor.S3Location{}, errors.New("it must start with s3://")
	}
	bucket, key, _ := strings.Cut(rest, "/")
	if bucket == "" {
		return descriptor.S3Location{}, errors.New("it names no bucket")
	}
	if key != "" && !strings.HasSuffix(key, "/") {
		key += "/"
	}
	if strings.Contains(key, "//") {
		return descriptor.S3Location{}, errors.New("it has an empty folder name (//)")
	}
	return descriptor.S3Location{Bucket: bucket, Key: key}, nil
}

type importer struct {
	a         *Activities
	jobs      *cde.JobsClient
	job       *cde.Job
	prefix    descriptor.S3Location
	where     string
	vc        string                   // the virtual cluster's id, in the copies' metadata
	resources map[string]*cde.Resource // by name, as read
	notes     []ImportNote
}

func (imp *importer) note(level, format string, args ...any) {
	imp.notes = append(imp.notes, ImportNote{Level: level, Message: fmt.Sprintf(format, args...)})
}

// resource reads a resource once, with its files.
func (imp *importer) resource(ctx context.Context, name string) (*cde.Resource, error) {
	if r, ok := imp.resources[name]; ok {
		return r, nil
	}
	r, err := imp.jobs.GetResource(ctx, name)
	switch {
	case errors.Is(err, cde.ErrNotFound):
		r = nil
	case err != nil:
		return nil, classify("get resource "+name+" in "+imp.where, err)
	}
	imp.resources[name] = r
	return r, nil
}

func (imp *importer) plan(ctx context.Context, in ImportInput) (ImportPlan, error) {
	sp := imp.job.Spark
	python := strings.HasSuffix(strings.ToLower(sp.File), ".py")
	shape := descriptor.JobShape{PyFiles: python}
	deps := sp.Jars
	if python {
		deps = sp.PyFiles
		shape.PythonVersion = cmp.Or(sp.Conf[ConfPySpark], "python3")
		shape.PythonEnvResource = sp.PythonEnvResourceName
		if len(sp.Jars) > 0 {
			imp.note("WARNING", "The job lists jars (%s), which a PySpark component has no field for: they are left out", strings.Join(sp.Jars, ", "))
		}
	} else {
		shape.ClassName = sp.ClassName
		if shape.ClassName == "" {
			return ImportPlan{}, importRefused("job %s in %s runs %s without a className: a Spark jar component needs its main class", imp.job.Name, imp.where, sp.File)
		}
		if len(sp.PyFiles) > 0 {
			imp.note("WARNING", "The job lists Python files (%s), which a Spark jar component has no field for: they are left out", strings.Join(sp.PyFiles, ", "))
		}
	}
	if len(sp.Files) > 0 {
		imp.note("WARNING", "The job lists extra files (spark.files: %s), which the descriptor has no field for: they are left out", strings.Join(sp.Files, ", "))
	}
	kind, ok := descriptor.KindOf(shape)
	if !ok {
		return ImportPlan{}, importRefused("job %s in %s is a Spark job of a shape no component kind has", imp.job.Name, imp.where)
	}

	// Locate every file: the application file, the dependencies, then the kind's own (the
	// requirements of a python-env).
	var files []ImportFile
	app, err := imp.locate(ctx, descriptor.RoleApplication, sp.File)
	if err != nil {
		return ImportPlan{}, err
	}
	files = append(files, app)
	for _, dep := range deps {
		f, err := imp.locate(ctx, descriptor.RoleDependency, dep)
		if err != nil {
			return ImportPlan{}, err
		}
		files = append(files, f)
	}
	var mirror *string
	if shape.PythonEnvResource != "" {
		f, version, m, err := imp.pythonEnv(ctx, shape.PythonEnvResource)
		if err != nil {
			return ImportPlan{}, err
		}
		files = append(files, f)
		if version != "" {
			shape.PythonVersion = version
		}
		mirror = m
	}
	if err := imp.destinations(ctx, files); err != nil {
		return ImportPlan{}, err
	}

	byRole := map[descriptor.ArtifactRole]string{}
	var depLocs []string
	for _, f := range files {
		if f.Role == descriptor.RoleDependency {
			depLocs = append(depLocs, f.To)
		} else {
			byRole[f.Role] = f.To
		}
	}
	s, err := descriptor.SpecificOf(kind, shape, byRole)
	if err != nil {
		return ImportPlan{}, importRefused("job %s: %v", imp.job.Name, err)
	}
	s.CDEService, s.CDECluster = in.Target.ServiceName, in.Target.ClusterName
	s.JobName = descriptor.ExpectedJobName(in.ComponentID, in.Environment)
	s.PyMirror = mirror
	s.JobConfig = imp.jobConfig(depLocs)
	if owner := JobOwner(imp.job); owner != "" && owner != in.ComponentID {
		imp.note("WARNING", "Job %s was provisioned by this provisioner for component %s: importing it into %s makes a second job, the first is left to its component", imp.job.Name, owner, in.ComponentID)
	}
	return ImportPlan{Specific: s, Job: imp.job.Name, Files: files, Notes: imp.notes}, nil
}

// jobConfig maps the job's settings onto jobConfig: every value, defaults included, so that the
// component says what the job runs with.
func (imp *importer) jobConfig(deps []string) *descriptor.JobConfig {
	sp := imp.job.Spark
	jc := &descriptor.JobConfig{
		Args:           slices.Clone(sp.Args),
		Dependencies:   deps,
		DriverCores:    nonZeroInt(sp.DriverCores),
		DriverMemory:   nonEmpty(sp.DriverMemory),
		ExecutorCores:  nonZeroInt(sp.ExecutorCores),
		ExecutorMemory: nonEmpty(sp.ExecutorMemory),
		NumExecutors:   nonZeroInt(sp.NumExecutors),
		LogLevel:       nonEmpty(sp.LogLevel),
	}
	conf := maps.Clone(sp.Conf)
	for _, k := range managedConfKeys {
		delete(conf, k)
	}
	if conf[ConfSafari] == "true" {
		delete(conf, ConfSafari) // every provision sets it
	}
	if len(conf) > 0 {
		jc.Conf = conf
	}
	if sc := imp.job.Schedule; sc != nil && sc.Enabled {
		jc.Schedule = &descriptor.Schedule{CronExpression: sc.CronExpression, StartDate: sc.Start, EndDate: sc.End}
		if sc.Paused != nil && *sc.Paused {
			imp.note("WARNING", "The job's schedule is paused; a component's schedule has no pause: the next provision schedules it")
		}
	}
	return jc
}

// locate finds a file the job names (relative to its mounts, or a URL) and says where it goes.
func (imp *importer) locate(ctx context.Context, role descriptor.ArtifactRole, name string) (ImportFile, error) {
	if u, ok := s3URL(name); ok {
		if _, err := descriptor.ParseS3Location(u); err != nil {
			return ImportFile{}, importRefused("job %s reads %s from S3, which is not a location a component can name: %v", imp.job.Name, name, err)
		}
		return ImportFile{Role: role, To: u, Action: ImportOnS3}, nil
	}
	if strings.Contains(name, "://") || strings.HasPrefix(name, "local:") {
		return ImportFile{}, importRefused("job %s reads %s, which is neither in one of its resources nor on S3: it cannot be copied", imp.job.Name, name)
	}
	for _, m := range imp.job.Mounts {
		rel, ok := underMount(name, m.DirPrefix)
		if !ok {
			continue
		}
		r, err := imp.resource(ctx, m.ResourceName)
		if err != nil {
			return ImportFile{}, err
		}
		if r == nil {
			continue
		}
		for _, f := range r.Files {
			if f.Path == rel {
				return ImportFile{Role: role, Resource: r.Name, Path: f.Path, Size: f.SizeBytes, Signature: f.Signature}, nil
			}
		}
	}
	mounted := make([]string, len(imp.job.Mounts))
	for i, m := range imp.job.Mounts {
		mounted[i] = m.ResourceName
	}
	return ImportFile{}, importRefused("file %s of job %s is in none of its resources (%s)", name, imp.job.Name, orNone(mounted))
}

// pythonEnv locates the requirements of the job's python-env, with its Python version and mirror.
func (imp *importer) pythonEnv(ctx context.Context, name string) (ImportFile, string, *string, error) {
	r, err := imp.resource(ctx, name)
	if err != nil {
		return ImportFile{}, "", nil, err
	}
	switch {
	case r == nil:
		return ImportFile{}, "", nil, importRefused("the python-env resource %s of job %s does not exist", name, imp.job.Name)
	case r.Type != cde.ResourceTypePythonEnv:
		return ImportFile{}, "", nil, importRefused("resource %s, the Python environment of job %s, is of type %s, not python-env", name, imp.job.Name, orUnknown(r.Type))
	}
	for _, f := range r.Files {
		if f.Path == "requirements.txt" {
			var version string
			var mirror *string
			if r.PythonEnv != nil {
				version = r.PythonEnv.PythonVersion
				if m := strings.TrimSpace(r.PythonEnv.PyPiMirror); m != "" {
					mirror = &m
				}
			}
			return ImportFile{Role: descriptor.RoleRequirements, Resource: r.Name, Path: f.Path, Size: f.SizeBytes, Signature: f.Signature}, version, mirror, nil
		}
	}
	return ImportFile{}, "", nil, importRefused("the python-env resource %s of job %s has no requirements.txt", name, imp.job.Name)
}

// destinations decides, for each file in a resource, whether the S3 origin a provision recorded
// can be named (the manifest says the file came from there, unchanged since), or where under the
// prefix it is copied; and checks that no copy would overwrite what is not its own.
func (imp *importer) destinations(ctx context.Context, files []ImportFile) error {
	recorded, err := imp.recordedOrigins(ctx)
	if err != nil {
		return err
	}
	taken := map[string]string{} // destination → the file going there
	for i := range files {
		f := &files[i]
		if f.Action == ImportOnS3 {
			continue
		}
		if src, ok := imp.reusable(ctx, recorded, *f); ok {
			f.To, f.Action = src, ImportReuse
			continue
		}
		base := path.Base(f.Path)
		to := descriptor.S3Location{Bucket: imp.prefix.Bucket, Key: imp.prefix.Key + base}
		if other, dup := taken[to.Key]; dup {
			return importRefused("files %s and %s of job %s would both be copied to %s: a component's files need distinct names", other, f.Resource+"/"+f.Path, imp.job.Name, to)
		}
		taken[to.Key] = f.Resource + "/" + f.Path
		f.To = to.String()
		f.Action = ImportCopy
		obj, err := imp.a.Store.Stat(ctx, to)
		switch {
		case errors.Is(err, artifacts.ErrNotFound):
		case err != nil:
			return classify("check "+to.String()+" on S3", err, artifacts.IsTransient)
		case obj.Metadata[MetaImportSource] == importSource(imp.vc, *f) && obj.Metadata[MetaImportSignature] == f.Signature && obj.Size == f.Size:
			f.Action = ImportCopied
		default:
			return importRefused("%s already exists and is not a copy of %s/%s: choose another artifactsPrefix, or remove it", to, f.Resource, f.Path)
		}
	}
	return nil
}

// importSource is the metadata value naming a copied file's origin.
func importSource(vcID string, f ImportFile) string { return vcID + "/" + f.Resource + "/" + f.Path }

// recordedOrigins reads the upload manifest a provision of this provisioner left (in the job's
// manifest resource, or in its main resource for older ones): the S3 origin of each file.
func (imp *importer) recordedOrigins(ctx context.Context) (manifest, error) {
	for _, name := range []string{descriptor.ManifestResourceName(imp.job.Name), descriptor.MainResourceName(imp.job.Name)} {
		r, err := imp.resource(ctx, name)
		if err != nil {
			return manifest{}, err
		}
		if r == nil {
			continue
		}
		files := map[string]cde.ResourceFile{}
		for _, f := range r.Files {
			files[f.Path] = f
		}
		if m := imp.a.readManifest(ctx, imp.jobs, name, files); len(m.Files) > 0 {
			return m, nil
		}
	}
	return manifest{}, nil
}

// reusable says whether a file is, unchanged, the one a provision uploaded from an S3 object
// that is itself unchanged since: then the component names that object, and nothing is copied.
func (imp *importer) reusable(ctx context.Context, m manifest, f ImportFile) (string, bool) {
	e, ok := m.Files[f.Resource+"/"+f.Path]
	if !ok || e.Source == "" || e.CDESizeBytes != f.Size || (f.Signature != "" && e.CDESignature != f.Signature) {
		return "", false
	}
	loc, err := descriptor.ParseS3Location(e.Source)
	if err != nil {
		return "", false
	}
	obj, err := imp.a.Store.Stat(ctx, loc)
	if err != nil || obj.ETag != e.ETag || obj.Size != e.Size {
		imp.note("INFO", "%s/%s was uploaded from %s, which changed or cannot be read since: it is copied instead", f.Resource, f.Path, e.Source)
		return "", false
	}
	return e.Source, true
}

// s3URL returns an s3:// or s3a:// URL as s3://.
func s3URL(name string) (string, bool) {
	for _, scheme := range []string{"s3://", "s3a://", "s3n://"} {
		if rest, ok := strings.CutPrefix(name, scheme); ok {
			return "s3://" + rest, true
		}
	}
	return "", false
}

// underMount is the path inside a resource mounted under dirPrefix of a file the job names.
func underMount(name, dirPrefix string) (string, bool) {
	dir := strings.Trim(dirPrefix, "/")
	if dir == "" {
		return strings.TrimPrefix(name, "/"), true
	}
	rest, ok := strings.CutPrefix(strings.TrimPrefix(name, "/"), dir+"/")
	return rest, ok
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "it mounts none"
	}
	return strings.Join(names, ", ")
}

func nonZeroInt(n int) *int {
	if n == 0 {
		return nil
	}
	return &n
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// CopyImportInput are the files of an import plan to copy (ImportCopy), and their cluster.
type CopyImportInput struct {
	Target Target       `json:"target"`
	Files  []ImportFile `json:"files"`
}

// CopyImport streams each file from its CDE resource to its S3 destination, one after the other,
// never holding a file in memory. A destination is only ever created, never overwritten: one
// already there is this import's copy (a retried attempt) when its metadata names the same
// source and signature, and a refusal otherwise. Heartbeats carry the files done, so that a
// retry after a worker crash resumes with the next one.
func (a *Activities) CopyImport(ctx context.Context, in CopyImportInput) error {
	jobs, err := a.jobs(in.Target)
	if err != nil {
		return err
	}
	done := map[string]bool{}
	if activity.IsActivity(ctx) && activity.HasHeartbeatDetails(ctx) {
		var prev []string
		if activity.GetHeartbeatDetails(ctx, &prev) == nil {
			for _, to := range prev {
				done[to] = true
			}
		}
	}
	for _, f := range in.Files {
		if done[f.To] {
			continue
		}
		if err := a.copyImportFile(ctx, jobs, in.Target, f); err != nil {
			return err
		}
		done[f.To] = true
		if activity.IsActivity(ctx) {
			activity.RecordHeartbeat(ctx, slices.Sorted(maps.Keys(done)))
		}
	}
	return nil
}

func (a *Activities) copyImportFile(ctx context.Context, jobs *cde.JobsClient, t Target, f ImportFile) error {
	to, err := descriptor.ParseS3Location(f.To)
	if err != nil {
		return importRefused("the destination %s of %s/%s: %v", f.To, f.Resource, f.Path, err)
	}
	body, size, err := jobs.OpenResourceFile(ctx, f.Resource, f.Path)
	if err != nil {
		if errors.Is(err, cde.ErrNotFound) {
			return importRefused("file %s of resource %s disappeared from virtual cluster %s during the import", f.Path, f.Resource, t.ClusterName)
		}
		return classify(fmt.Sprintf("read %s/%s in virtual cluster %s", f.Resource, f.Path, t.ClusterName), err)
	}
	defer body.Close()
	if size < 0 {
		size = f.Size
	}
	meta := map[string]string{MetaImportSource: importSource(t.VcID, f), MetaImportSignature: f.Signature}
	_, err = a.Store.Put(ctx, to, body, size, meta, artifacts.IfAbsent())
	if errors.Is(err, artifacts.ErrExists) {
		obj, herr := a.Store.Stat(ctx, to)
		if herr == nil && obj.Metadata[MetaImportSource] == meta[MetaImportSource] && obj.Metadata[MetaImportSignature] == f.Signature {
			return nil // this import's own copy, written by an earlier attempt
		}
		return importRefused("%s was created by someone else during the import: choose another artifactsPrefix, or remove it", f.To)
	}
	if err != nil {
		if cde.IsTransient(err) {
			return classify(fmt.Sprintf("read %s/%s in virtual cluster %s", f.Resource, f.Path, t.ClusterName), err)
		}
		return classify(fmt.Sprintf("copy %s/%s to %s", f.Resource, f.Path, f.To), err, artifacts.IsTransient)
	}
	return nil
}
