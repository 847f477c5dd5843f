package descriptor

import (
	"encoding/json"
	"fmt"
)

// What the provisioner knows of each job kind beyond decoding its fields, in one table: which
// files the job has and the role of each, the rules of its own fields, the resources it needs and
// what goes in each, and its part of the CDE job. Validation, Artifacts, the provision and
// unprovision workflows and activities.BuildJob read it here instead of branching on the kind.
//
// A kind added to JobKind gets: its fields (types.go, decoded in component.go), its entry below,
// and, if it brings something new to the CDE job, a field of JobShape that activities.BuildJob
// maps. Nothing in workflows/ or api/ names a kind (kinds_test.go checks it).
type kindInfo struct {
	// label names the kind in the answers' public info.
	label string
	// app is the application file: the job's entry point, mounted from the main resource.
	app file
	// extra are the kind's own files beyond the application and the dependencies (which every
	// kind has, in jobConfig.dependencies), listed after them.
	extra []file
	// rules check the kind's own fields, in the order their problems are reported.
	rules []func(*validator)
	// pythonEnv: the job runs in a python-env resource built from its requirements file (the
	// file of role RoleRequirements), beside the main resource every kind has.
	pythonEnv bool
	// job is the kind's part of its CDE job; unshape is its inverse, for an imported job
	// (reverse provisioning): the kind's fields that job sets.
	job     func(Specific) JobShape
	unshape func(*Specific, JobShape)
}

// file is one of a kind's files: its role, its field and where the Specific keeps it.
type file struct {
	role  ArtifactRole
	field string
	loc   func(Specific) string
	set   func(*Specific, string)
}

// kindOrder lists the kinds in the order messages name them.
var kindOrder = []JobKind{SparkJar, PySpark, PySparkWithEnv}

var kinds = map[JobKind]kindInfo{
	SparkJar: {
		label: "Spark (jar)",
		app: file{RoleApplication, FieldJar, func(s Specific) string { return s.Jar },
			func(s *Specific, loc string) { s.Jar = loc }},
		rules:   []func(*validator){(*validator).className},
		job:     func(s Specific) JobShape { return JobShape{ClassName: s.ClassName} },
		unshape: func(s *Specific, j JobShape) { s.ClassName = j.ClassName },
	},
	PySpark: {
		label:   "PySpark",
		app:     pythonFile,
		rules:   []func(*validator){(*validator).pythonVersion},
		job:     func(s Specific) JobShape { return JobShape{PyFiles: true, PythonVersion: s.PythonVersion} },
		unshape: func(s *Specific, j JobShape) { s.PythonVersion = j.PythonVersion },
	},
	PySparkWithEnv: {
		label: "PySpark with Python environment",
		app:   pythonFile,
		extra: []file{{RoleRequirements, FieldRequirementsFile, func(s Specific) string { return s.RequirementsFile },
			func(s *Specific, loc string) { s.RequirementsFile = loc }}},
		rules:     []func(*validator){(*validator).pythonVersion, (*validator).pythonEnv},
		pythonEnv: true,
		job: func(s Specific) JobShape {
			return JobShape{PyFiles: true, PythonVersion: s.PythonVersion, PythonEnvResource: PyEnvResourceName(s.JobName)}
		},
		unshape: func(s *Specific, j JobShape) { s.PythonVersion = j.PythonVersion },
	},
}

var pythonFile = file{RoleApplication, FieldPythonFile, func(s Specific) string { return s.PythonFile },
	func(s *Specific, loc string) { s.PythonFile = loc }}

// roles says, per artifact role, where the file goes and the rule a missing or malformed file
// breaks (worded as the reference worded it).
var roles = map[ArtifactRole]struct {
	rule      Rule
	pythonEnv bool // in the python-env resource rather than the main one
}{
	RoleApplication:  {rule: ApplicationFileNotFound},
	RoleDependency:   {rule: DependenciesNotFound},
	RoleRequirements: {rule: PythonEnvInvalid, pythonEnv: true},
}

// JobShape is a kind's part of its CDE Spark job, beside what every kind shares (the application
// file and the dependencies by their basenames, sizes, args, conf, schedule, the main resource's
// mount). activities.BuildJob maps it onto the CDE job.
type JobShape struct {
	// ClassName is the main class of a jar job.
	ClassName string
	// PyFiles: the dependencies are Python files (pyFiles) rather than jars.
	PyFiles bool
	// PythonVersion is the interpreter (spark.pyspark.python), for Python jobs.
	PythonVersion string
	// PythonEnvResource is the python-env resource the job runs in, if any.
	PythonEnvResource string
}

// Label names the kind for people (the kind itself when unknown).
func (k JobKind) Label() string {
	if info, ok := kinds[k]; ok {
		return info.label
	}
	return string(k)
}

// UsesPythonEnv says whether a job of the kind runs in a python-env resource of its own
// (PyEnvResourceName), built from its requirements file.
func (k JobKind) UsesPythonEnv() bool { return kinds[k].pythonEnv }

// InPythonEnv says whether an artifact of the role goes into the job's python-env resource; the
// others go into its main resource (MainResourceName).
func (r ArtifactRole) InPythonEnv() bool { return roles[r].pythonEnv }

// AppFile is the location of the application file: the jar or the Python file.
func (s Specific) AppFile() string {
	if info, ok := kinds[s.Kind]; ok {
		return info.app.loc(s)
	}
	return ""
}

// JobShape is the specific's kind-dependent part of its CDE job.
func (s Specific) JobShape() JobShape {
	if info, ok := kinds[s.Kind]; ok {
		return info.job(s)
	}
	return JobShape{}
}

// files calls visit for each file of the specific, in the order Artifacts lists them: the
// application file, the dependencies, then the kind's own files.
func (s Specific) files(visit func(f file, index int, loc string)) {
	info, ok := kinds[s.Kind]
	if !ok {
		return
	}
	visit(info.app, -1, info.app.loc(s))
	if s.JobConfig != nil {
		dep := file{role: RoleDependency, field: FieldDependencies}
		for i, loc := range s.JobConfig.Dependencies {
			visit(dep, i, loc)
		}
	}
	for _, f := range info.extra {
		visit(f, -1, f.loc(s))
	}
}

// ResourceNames are the names of every resource a job of any kind may have in CDE (its main
// resource, the two slots of its python-env, its manifest), in the order an unprovision deletes
// them: all of them, since a job that changed kind may have left any.
func ResourceNames(jobName string) []string {
	return []string{MainResourceName(jobName), PyEnvResourceName(jobName), PyEnvAltResourceName(jobName), ManifestResourceName(jobName)}
}

// KindOf is the kind whose CDE jobs have this shape (reverse provisioning): the first of
// kindOrder whose job has a main class, Python files and a python-env exactly when shape has.
func KindOf(shape JobShape) (JobKind, bool) {
	for _, k := range kindOrder {
		info := kinds[k]
		var s Specific
		s.Kind, s.JobName = k, "-"
		info.unshape(&s, shape)
		got := info.job(s)
		if (got.ClassName != "") == (shape.ClassName != "") && got.PyFiles == shape.PyFiles &&
			(got.PythonEnvResource != "") == (shape.PythonEnvResource != "") {
			return k, true
		}
	}
	return "", false
}

// SpecificOf is the specific of a job of the kind with this shape (KindOf), its application
// file and its own files (by role) at these locations; the caller fills the rest (service,
// cluster, name, jobConfig). Files of roles the kind does not have are refused.
func SpecificOf(kind JobKind, shape JobShape, files map[ArtifactRole]string) (Specific, error) {
	info, ok := kinds[kind]
	if !ok {
		return Specific{}, fmt.Errorf("unknown job kind %q", kind)
	}
	s := Specific{Kind: kind}
	info.unshape(&s, shape)
	for role, loc := range files {
		set := false
		for _, f := range append([]file{info.app}, info.extra...) {
			if f.role == role {
				f.set(&s, loc)
				set = true
			}
		}
		if !set {
			return Specific{}, fmt.Errorf("a %s job has no file of role %s", info.label, role)
		}
	}
	return s, nil
}

// DescriptorFields is the specific in the descriptor's own field names (the shape a component's
// specific has in the descriptor, and what reverse provisioning answers): everything but the
// kind, which the decoder tells from the fields.
func (s Specific) DescriptorFields() (map[string]any, error) {
	raw, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, err
	}
	delete(out, "kind")
	return out, nil
}
