package descriptor

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// Every kind has its entry, in the order messages list them, and the workflows' questions have
// the answers they had when they branched on the kind themselves.
func TestEveryJobKindHasItsEntry(t *testing.T) {
	if len(kindOrder) != len(kinds) {
		t.Fatalf("kindOrder lists %d kinds, kinds holds %d", len(kindOrder), len(kinds))
	}
	for _, k := range kindOrder {
		info, ok := kinds[k]
		switch {
		case !ok:
			t.Errorf("kind %q has no entry", k)
		case info.label == "" || info.app.loc == nil || info.app.field == "" || info.job == nil || len(info.rules) == 0:
			t.Errorf("kind %q: its entry lacks a label, an application file, rules or a job shape", k)
		}
		for _, f := range append([]file{info.app}, info.extra...) {
			if _, ok := roles[f.role]; !ok {
				t.Errorf("kind %q: file %s has role %q, which has no entry in roles", k, f.field, f.role)
			}
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

// The kind's part of the CDE job, as BuildJob had it when it branched on the kind.
func TestJobShapeOfEachKind(t *testing.T) {
	base := Specific{JobName: "j", ClassName: "a.B", PythonVersion: "python3"}
	for kind, want := range map[JobKind]JobShape{
		SparkJar:       {ClassName: "a.B"},
		PySpark:        {PyFiles: true, PythonVersion: "python3"},
		PySparkWithEnv: {PyFiles: true, PythonVersion: "python3", PythonEnvResource: PyEnvResourceName("j")},
		"custom":       {},
	} {
		s := base
		s.Kind = kind
		if got := s.JobShape(); got != want {
			t.Errorf("%q: %+v, want %+v", kind, got, want)
		}
	}
}

// Adding a job kind touches descriptor/ and BuildJob's mapping of JobShape, nothing in workflows/,
// api/ or the rest of activities/: outside descriptor/ no code names a kind, and a specific's Kind
// is only asked its questions (Kind.Label(), Kind.UsesPythonEnv()), never compared or switched on.
func TestNoCodeOutsideDescriptorBranchesOnTheJobKind(t *testing.T) {
	named := map[string]bool{"SparkJar": true, "PySpark": true, "PySparkWithEnv": true}
	for _, dir := range []string{"../workflows", "../api", "../activities"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no Go files (%v)", dir, err)
		}
		fset := token.NewFileSet()
		for _, name := range files {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, name, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			var stack []ast.Node
			ast.Inspect(f, func(n ast.Node) bool {
				if n == nil {
					stack = stack[:len(stack)-1]
					return true
				}
				if sel, ok := n.(*ast.SelectorExpr); ok {
					switch {
					case named[sel.Sel.Name]:
						t.Errorf("%s: names the job kind %s", fset.Position(sel.Pos()), sel.Sel.Name)
					case sel.Sel.Name == "Kind" && !askedAMethod(stack):
						t.Errorf("%s: uses a specific's Kind other than by asking one of its methods", fset.Position(sel.Pos()))
					}
				}
				stack = append(stack, n)
				return true
			})
		}
	}
}

// askedAMethod says whether the node just visited (whose parents are stack) is the receiver of a
// method call: x.Kind.M(...).
func askedAMethod(stack []ast.Node) bool {
	if len(stack) < 2 {
		return false
	}
	parent, ok := stack[len(stack)-1].(*ast.SelectorExpr)
	if !ok {
		return false
	}
	call, ok := stack[len(stack)-2].(*ast.CallExpr)
	return ok && call.Fun == parent
}
