package descriptor

// What the provisioner knows of each job kind beyond its fields, in one place: the workflows ask
// here instead of branching on the kind. A kind added to JobKind gets its entry here, its fields
// (component.go, validate.go, Artifacts) and its CDE mapping (activities.BuildJob); nothing in
// workflows/ or api/ names a kind.
type kindInfo struct {
	// label names the kind in the answers' public info.
	label string
	// pythonEnv: the job runs in a python-env resource built from its requirements file, which
	// goes into that resource rather than the main one.
	pythonEnv bool
}

// kindOrder lists the kinds in the order messages name them.
var kindOrder = []JobKind{SparkJar, PySpark, PySparkWithEnv}

var kinds = map[JobKind]kindInfo{
	SparkJar:       {label: "Spark (jar)"},
	PySpark:        {label: "PySpark"},
	PySparkWithEnv: {label: "PySpark with Python environment", pythonEnv: true},
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
func (r ArtifactRole) InPythonEnv() bool { return r == RoleRequirements }
