package descriptor

import "testing"

// Every kind has its entry, in the order messages list them, and the workflows' questions have
// the answers they had when they branched on the kind themselves.
func TestEveryJobKindHasItsEntry(t *testing.T) {
	if len(kindOrder) != len(kinds) {
		t.Fatalf("kindOrder lists %d kinds, kinds holds %d", len(kindOrder), len(kinds))
	}
	for _, k := range kindOrder {
		if _, ok := kinds[k]; !ok {
			t.Errorf("kind %q has no entry", k)
		}
	}
	for k, want := range map[JobKind]struct {
		label string
		env   bool
	}{
		SparkJar:       {"Spark (jar)", false},
		PySpark:        {"PySpark", false},
		PySparkWithEnv: {"PySpark with Python environment", true},
		"custom":       {"custom", false},
	} {
		if k.Label() != want.label || k.UsesPythonEnv() != want.env {
			t.Errorf("%q: label %q, python env %v", k, k.Label(), k.UsesPythonEnv())
		}
	}
	for _, r := range []ArtifactRole{RoleApplication, RoleDependency} {
		if r.InPythonEnv() {
			t.Errorf("%v goes into the python-env", r)
		}
	}
	if !RoleRequirements.InPythonEnv() {
		t.Error("the requirements file goes into the python-env")
	}
}
