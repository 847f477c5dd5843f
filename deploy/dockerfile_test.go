package deploy

import (
	"bufio"
	"debug/elf"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// The Dockerfile is read with a small line-based parser rather than BuildKit's: the
// moby/buildkit module would upgrade grpc, golang.org/x/* and the go directive in the
// provisioner's go.mod. The parser knows what this Dockerfile uses (continuations, comments,
// FROM … AS, ARG, RUN, COPY, USER, ENTRYPOINT) and the tests fail on what it cannot read.

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, ...
	args string
	line int
}

// stage is one FROM and the instructions under it.
type stage struct {
	base, name string
	body       []instruction
}

// dockerfile is a parsed Dockerfile: the ARGs before the first FROM and the stages.
type dockerfile struct {
	globalArgs map[string]string
	stages     []stage
}

const modulePath = "github.com/witboost-community/cde-spark-provisioner"

// trackFiles reads every file under root. `go test` caches a passing result until a file the
// test itself opened changes; helm and go build read theirs in child processes, which the cache
// does not see, so without this an edited chart or command would still get the cached "ok".
func trackFiles(t *testing.T, root string) {
	t.Helper()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		_, err = os.ReadFile(path)
		return err
	})
	if err != nil {
		t.Fatalf("read %s: %v", root, err)
	}
}

// targets are the images the Dockerfile must produce, named like the commands they run.
var targets = []string{"api", "worker", "cdesim", "s3local"}

func parseDockerfile(t *testing.T, path string) dockerfile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ins []instruction
	var cur strings.Builder
	start := 0
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		// Comment lines are dropped, also inside a continuation, as Docker does.
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.Contains(line, "<<") {
			t.Fatalf("%s:%d: heredocs are not understood by this check", path, n)
		}
		if cur.Len() == 0 {
			start = n
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(cont + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		ins = append(ins, instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args), line: start})
		cur.Reset()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cur.Len() > 0 {
		t.Fatalf("%s: ends inside a continuation", path)
	}

	df := dockerfile{globalArgs: map[string]string{}}
	for _, in := range ins {
		switch {
		case in.cmd == "FROM":
			words := strings.Fields(in.args)
			words = slices.DeleteFunc(words, func(w string) bool { return strings.HasPrefix(w, "--platform=") })
			st := stage{base: words[0]}
			if len(words) == 3 && strings.EqualFold(words[1], "AS") {
				st.name = words[2]
			} else if len(words) != 1 {
				t.Fatalf("line %d: FROM %s: want IMAGE [AS NAME]", in.line, in.args)
			}
			df.stages = append(df.stages, st)
		case len(df.stages) == 0 && in.cmd == "ARG":
			k, v, _ := strings.Cut(in.args, "=")
			df.globalArgs[k] = v
		case len(df.stages) == 0:
			t.Fatalf("line %d: %s before the first FROM", in.line, in.cmd)
		default:
			df.stages[len(df.stages)-1].body = append(df.stages[len(df.stages)-1].body, in)
		}
	}
	return df
}

// stage returns the stage named name, nil if there is none.
func (df dockerfile) stage(name string) *stage {
	for i := range df.stages {
		if df.stages[i].name == name {
			return &df.stages[i]
		}
	}
	return nil
}

// user is the user a stage runs as: its last USER, else its base stage's, else "" (root).
func (df dockerfile) user(st *stage) string {
	for i := len(st.body) - 1; i >= 0; i-- {
		if st.body[i].cmd == "USER" {
			return st.body[i].args
		}
	}
	if base := df.stage(st.base); base != nil {
		return df.user(base)
	}
	return ""
}

// image is the external image a stage ends up on, following stage-to-stage FROMs.
func (df dockerfile) image(st *stage) string {
	if base := df.stage(st.base); base != nil {
		return df.image(base)
	}
	return st.base
}

// args are the ARG defaults visible in a stage (global ones only if redeclared, as in Docker,
// but the global default is used for a bare redeclaration).
func (df dockerfile) args(st *stage) map[string]string {
	m := map[string]string{}
	for _, in := range st.body {
		if in.cmd != "ARG" {
			continue
		}
		k, v, ok := strings.Cut(in.args, "=")
		if !ok {
			v = df.globalArgs[k]
		}
		m[k] = v
	}
	return m
}

// goBuild finds the build stage's `go build` and returns its environment assignments and its
// arguments (after "go build"), shell-split, ${VAR} expanded from vars.
func goBuild(t *testing.T, df dockerfile, vars map[string]string) (env, args []string) {
	t.Helper()
	st := df.stage("build")
	if st == nil {
		t.Fatal(`no stage named "build"`)
	}
	for _, in := range st.body {
		if in.cmd != "RUN" || !strings.Contains(in.args, "go build") {
			continue
		}
		if strings.ContainsAny(in.args, "'`;|&") || strings.Contains(in.args, "$(") {
			t.Fatalf("line %d: the go build RUN uses shell syntax this check does not understand: %s", in.line, in.args)
		}
		expanded := regexp.MustCompile(`\$\{(\w+)\}`).ReplaceAllStringFunc(in.args, func(ref string) string {
			name := ref[2 : len(ref)-1]
			v, ok := vars[name]
			if !ok {
				t.Fatalf("line %d: ${%s} has no value", in.line, name)
			}
			return v
		})
		words := splitWords(t, expanded)
		words = slices.DeleteFunc(words, func(w string) bool { return strings.HasPrefix(w, "--mount=") })
		i := 0
		for ; i < len(words) && strings.Contains(words[i], "=") && !strings.HasPrefix(words[i], "-"); i++ {
			env = append(env, words[i])
		}
		if len(words) < i+2 || words[i] != "go" || words[i+1] != "build" {
			t.Fatalf("line %d: want [VAR=value ...] go build ..., got %q", in.line, words)
		}
		return env, words[i+2:]
	}
	t.Fatal("no go build in the build stage")
	return nil, nil
}

// splitWords splits a command line on blanks, honouring double quotes (all this Dockerfile
// uses; splitWords refuses anything else in goBuild).
func splitWords(t *testing.T, s string) []string {
	var words []string
	var w strings.Builder
	inQuote, inWord := false, false
	for _, r := range s {
		switch {
		case r == '"':
			inQuote, inWord = !inQuote, true
		case (r == ' ' || r == '\t') && !inQuote:
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if inQuote {
		t.Fatalf("unbalanced quote in %q", s)
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}

// buildVars are the values the build stage's go build sees: its ARG defaults, with the given
// overrides (what --build-arg would pass).
func buildVars(df dockerfile, overrides map[string]string) map[string]string {
	vars := df.args(df.stage("build"))
	for k, v := range overrides {
		vars[k] = v
	}
	return vars
}

func TestDockerfileTargets(t *testing.T) {
	df := parseDockerfile(t, "../Dockerfile")
	for _, target := range targets {
		t.Run(target, func(t *testing.T) {
			st := df.stage(target)
			if st == nil {
				t.Fatalf("no stage %q: docker build --target %s would fail", target, target)
			}
			checks := []struct {
				name string
				ok   func() bool
			}{
				{"runs as a non-root numeric user (Kubernetes runAsNonRoot needs a number)", func() bool {
					uid, _, _ := strings.Cut(df.user(st), ":")
					return regexp.MustCompile(`^[1-9][0-9]*$`).MatchString(uid)
				}},
				{"ends on a shell-less static base (distroless static or scratch)", func() bool {
					img := df.image(st)
					return img == "scratch" || strings.HasPrefix(img, "gcr.io/distroless/static")
				}},
				{"copies its own binary from the build stage", func() bool {
					for _, in := range st.body {
						if in.cmd == "COPY" && strings.HasPrefix(in.args, "--from=build ") && strings.Contains(in.args, "/out/"+target+" ") {
							return true
						}
					}
					return false
				}},
				{"copies the health check binary (no shell or curl in the image)", func() bool {
					for _, in := range st.body {
						if in.cmd == "COPY" && strings.Contains(in.args, "/out/healthcheck") {
							return true
						}
					}
					return false
				}},
				{"starts its binary in exec form (signals reach the process)", func() bool {
					for _, in := range st.body {
						if in.cmd == "ENTRYPOINT" {
							return in.args == `["/usr/local/bin/`+target+`"]`
						}
					}
					return false
				}},
			}
			for _, c := range checks {
				if !c.ok() {
					t.Errorf("stage %s: want it to %s", target, c.name)
				}
			}
		})
	}
}

func TestDockerfileBuildsStaticStampedBinaries(t *testing.T) {
	df := parseDockerfile(t, "../Dockerfile")
	env, args := goBuild(t, df, buildVars(df, nil))
	joined := strings.Join(args, " ")
	vpkg := df.args(df.stage("build"))["VERSION_PKG"]

	goMod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goLine := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(goMod)

	checks := []struct {
		name string
		ok   bool
	}{
		{"cgo is off, so the binaries are static", slices.Contains(env, "CGO_ENABLED=0")},
		{"paths are trimmed, for reproducible builds", slices.Contains(args, "-trimpath")},
		{"VERSION_PKG is internal/version", vpkg == modulePath+"/internal/version"},
		{"Version is stamped from the VERSION build argument", strings.Contains(joined, "-X "+vpkg+".Version=dev")},
		{"Commit is stamped from the COMMIT build argument", strings.Contains(joined, "-X "+vpkg+".Commit=unknown")},
		{"Date is stamped from the DATE build argument", strings.Contains(joined, "-X "+vpkg+".Date=unknown")},
		{"the Go image is the go.mod's Go release", goLine != nil && strings.HasPrefix(df.globalArgs["GO_VERSION"], string(goLine[1])+".")},
	}
	for _, target := range append(slices.Clone(targets), "healthcheck") {
		checks = append(checks, struct {
			name string
			ok   bool
		}{"it builds ./cmd/" + target, slices.Contains(args, "./cmd/"+target)})
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if !c.ok {
				t.Errorf("go build %s (env %v): want: %s", joined, env, c.name)
			}
		})
	}
}

// TestDockerfileBuildCommandStampsTheVersion runs the Dockerfile's own go build (its flags,
// its environment) for this machine, with build arguments as `docker build --build-arg` would
// pass them, and checks every binary prints them for --version and is statically linked.
func TestDockerfileBuildCommandStampsTheVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every binary")
	}
	// The build reads the sources in a child process; see trackFiles.
	for _, dir := range []string{"../cmd", "../internal/version"} {
		trackFiles(t, dir)
	}
	df := parseDockerfile(t, "../Dockerfile")
	stamp := map[string]string{
		"VERSION": "v9.8.7-test", "COMMIT": "0123abcd", "DATE": "2026-11-29T12:34:56Z",
		"TARGETOS": runtime.GOOS, "TARGETARCH": runtime.GOARCH,
	}
	env, args := goBuild(t, df, buildVars(df, stamp))
	out := t.TempDir()
	if i := slices.Index(args, "-o"); i < 0 || args[i+1] != "/out/" {
		t.Fatalf("go build %q: want -o /out/", args)
	} else {
		args[i+1] = out + string(filepath.Separator)
	}
	cmd := exec.Command("go", append([]string{"build"}, args...)...)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}

	for _, bin := range append(slices.Clone(targets), "healthcheck") {
		t.Run(bin, func(t *testing.T) {
			path := filepath.Join(out, bin)
			b, err := exec.Command(path, "--version").CombinedOutput()
			if err != nil {
				t.Fatalf("%s --version: %v\n%s", bin, err, b)
			}
			got := strings.TrimSpace(string(b))
			want := bin + " v9.8.7-test (commit 0123abcd, built 2026-11-29T12:34:56Z, " + runtime.Version() + ")"
			if got != want {
				t.Errorf("%s --version = %q, want %q", bin, got, want)
			}
			if runtime.GOOS != "linux" {
				return
			}
			f, err := elf.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			// A dynamically linked binary names its loader in a PT_INTERP header; a static one
			// runs on distroless/static, which has no libc.
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP {
					t.Errorf("%s is dynamically linked (PT_INTERP): it would not start on distroless/static", bin)
				}
			}
		})
	}
}
