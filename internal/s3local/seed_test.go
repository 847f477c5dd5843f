package s3local_test

import (
	"archive/zip"
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/witboost-community/cde-spark-provisioner/descriptor"
	"github.com/witboost-community/cde-spark-provisioner/internal/s3local"
)

// exampleFiles are the example descriptors of the repository that `make run` and the README use.
var exampleFiles = []string{"spark-jar.yaml", "pyspark.yaml", "pyspark-env.yaml"}

func exampleArtifacts(t *testing.T, file string) (*descriptor.Descriptor, []descriptor.Artifact) {
	t.Helper()
	text, err := os.ReadFile(filepath.Join("..", "..", "examples", file))
	require.NoError(t, err)
	d, problems := descriptor.Check(string(text))
	require.Empty(t, problems)
	arts := d.Artifacts()
	require.NotEmpty(t, arts)
	return d, arts
}

func TestSeedExamplesMakesEveryArtifactOfEveryExampleExist(t *testing.T) {
	// No bucket given: seeding creates the buckets the examples name.
	srv := start(t, s3local.Options{})
	require.NoError(t, s3local.SeedExamples(t.Context(), srv))
	store := storeFromEnv(t, srv)

	for _, file := range exampleFiles {
		t.Run(file, func(t *testing.T) {
			_, arts := exampleArtifacts(t, file)
			locs := make([]descriptor.S3Location, len(arts))
			for i, a := range arts {
				locs[i] = a.Location
			}
			results, err := store.StatAll(t.Context(), locs, 4)
			require.NoError(t, err)
			for i, r := range results {
				require.NoError(t, r.Err, "%s (%s) exists", arts[i].Location, arts[i].Field)
				assert.Positive(t, r.Object.Size, "%s is not empty", arts[i].Location)
			}
		})
	}
}

func TestSeededArtifactsAreReal(t *testing.T) {
	srv := start(t, s3local.Options{})
	require.NoError(t, s3local.SeedExamples(t.Context(), srv))
	store := storeFromEnv(t, srv)

	type check func(t *testing.T, d *descriptor.Descriptor, data []byte)
	jar := func(wantMainClass bool) check {
		return func(t *testing.T, d *descriptor.Descriptor, data []byte) {
			zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
			require.NoError(t, err, "a jar is a zip")
			require.GreaterOrEqual(t, len(zr.File), 2)
			assert.Equal(t, "META-INF/", zr.File[0].Name, "the jar tool's order: META-INF/ first")
			assert.Equal(t, "META-INF/MANIFEST.MF", zr.File[1].Name, "then the manifest")
			attrs := manifestAttributes(t, zr.File[1])
			assert.Equal(t, "1.0", attrs["Manifest-Version"])
			if wantMainClass {
				assert.Equal(t, d.Component.Specific.ClassName, attrs["Main-Class"], "the manifest names the descriptor's class")
			} else {
				assert.NotContains(t, attrs, "Main-Class", "a dependency has no entry point")
			}
		}
	}
	python := func(t *testing.T, _ *descriptor.Descriptor, data []byte) {
		assertPython(t, data)
	}
	pythonZip := func(wantFiles ...string) check {
		return func(t *testing.T, _ *descriptor.Descriptor, data []byte) {
			zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
			require.NoError(t, err)
			var names []string
			for _, f := range zr.File {
				names = append(names, f.Name)
				rc, err := f.Open()
				require.NoError(t, err)
				src, err := io.ReadAll(rc)
				require.NoError(t, err)
				rc.Close()
				assertPython(t, src)
			}
			assert.ElementsMatch(t, wantFiles, names)
		}
	}
	requirements := func(t *testing.T, _ *descriptor.Descriptor, data []byte) {
		spec := regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,._-]+\])?\s*(==|>=|<=|~=|!=|>|<)\s*[0-9][A-Za-z0-9.*+!-]*$`)
		var n int
		for line := range strings.Lines(string(data)) {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			assert.Regexp(t, spec, line, "a pinned requirement")
			n++
		}
		assert.Positive(t, n, "at least one requirement")
	}

	tests := []struct {
		name  string
		file  string
		field string // suffix of the artifact's field path
		check check
	}{
		{name: "the Spark application jar has a manifest naming the class", file: "spark-jar.yaml", field: "specific.jar", check: jar(true)},
		{name: "a dependency jar is a jar without an entry point", file: "spark-jar.yaml", field: "dependencies[0]", check: jar(false)},
		{name: "the PySpark application file is Python", file: "pyspark.yaml", field: "specific.pythonFile", check: python},
		{name: "a .py dependency is Python", file: "pyspark.yaml", field: "dependencies[0]", check: python},
		{name: "a .zip dependency is a zip of a Python package", file: "pyspark.yaml", field: "dependencies[1]", check: pythonZip("channels/__init__.py", "channels/attribution.py")},
		{name: "the application file of a job with an environment is Python", file: "pyspark-env.yaml", field: "specific.pythonFile", check: python},
		{name: "requirements.txt lists pinned requirements", file: "pyspark-env.yaml", field: "specific.requirementsFile", check: requirements},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, arts := exampleArtifacts(t, tt.file)
			var art *descriptor.Artifact
			for i := range arts {
				if strings.HasSuffix(arts[i].Field, tt.field) {
					art = &arts[i]
				}
			}
			require.NotNil(t, art, "%s has an artifact at %s", tt.file, tt.field)
			tt.check(t, d, read(t, t.Context(), store, art.Location))
		})
	}
}

// manifestAttributes parses a JAR manifest's main section, joining continuation lines.
func manifestAttributes(t *testing.T, f *zip.File) map[string]string {
	t.Helper()
	rc, err := f.Open()
	require.NoError(t, err)
	defer rc.Close()
	var lines []string
	sc := bufio.NewScanner(rc)
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if line == "" {
			break
		}
		assert.LessOrEqual(t, len(line), 72, "manifest lines are at most 72 bytes")
		if strings.HasPrefix(line, " ") {
			lines[len(lines)-1] += line[1:]
			continue
		}
		lines = append(lines, line)
	}
	require.NoError(t, sc.Err())
	attrs := map[string]string{}
	for _, l := range lines {
		k, v, ok := strings.Cut(l, ": ")
		require.True(t, ok, "attribute line %q", l)
		attrs[k] = v
	}
	return attrs
}

// assertPython checks that src is Python source: with a python3 on the machine, that it
// parses; without one, that it is non-empty UTF-8 text.
func assertPython(t *testing.T, src []byte) {
	t.Helper()
	require.NotEmpty(t, src)
	py, err := exec.LookPath("python3")
	if err != nil {
		assert.True(t, bytes.ContainsAny(src, "\n"), "a text file")
		return
	}
	cmd := exec.CommandContext(t.Context(), py, "-c", "import ast, sys; ast.parse(sys.stdin.read())")
	cmd.Stdin = bytes.NewReader(src)
	out, err := cmd.CombinedOutput()
	assert.NoError(t, err, "python3 parses the file: %s", out)
}

func TestSeedingIsDeterministic(t *testing.T) {
	etags := func(t *testing.T) map[descriptor.S3Location]string {
		srv := start(t, s3local.Options{})
		require.NoError(t, s3local.SeedExamples(t.Context(), srv))
		store := storeFromEnv(t, srv)
		out := map[descriptor.S3Location]string{}
		for _, file := range exampleFiles {
			_, arts := exampleArtifacts(t, file)
			for _, a := range arts {
				obj, err := store.Stat(t.Context(), a.Location)
				require.NoError(t, err)
				out[a.Location] = obj.ETag
			}
		}
		return out
	}
	first, second := etags(t), etags(t)
	assert.Equal(t, first, second, "two seedings give byte-identical artifacts (same ETags)")
}

func TestSeedExamplesFrom(t *testing.T) {
	example := func(file string) string {
		text, err := os.ReadFile(filepath.Join("..", "..", "examples", file))
		require.NoError(t, err)
		return string(text)
	}
	tests := []struct {
		name    string
		files   map[string]string
		wantErr string
		want    []descriptor.S3Location // must exist afterwards
	}{
		{
			name:  "files that are not component descriptors are skipped",
			files: map[string]string{"pyspark.yaml": example("pyspark.yaml"), "cdesim-seed.yaml": example("cdesim-seed.yaml"), "notes.txt": "not yaml"},
			want:  []descriptor.S3Location{{Bucket: "artifacts", Key: "marketing/campaigns/1.0.0/score.py"}},
		},
		{
			name: "a .py file without a sample of its own gets a generic PySpark job",
			files: map[string]string{"job.yaml": strings.ReplaceAll(example("pyspark.yaml"),
				"s3://artifacts/marketing/campaigns/1.0.0/score.py", "s3://other-bucket/jobs/new_job.py")},
			want: []descriptor.S3Location{{Bucket: "other-bucket", Key: "jobs/new_job.py"}},
		},
		{
			name: "an invalid example is an error naming the file",
			files: map[string]string{"broken.yaml": strings.ReplaceAll(example("spark-jar.yaml"),
				"driverMemory: 2g", "driverMemory: lots")},
			wantErr: "broken.yaml is not a valid descriptor",
		},
		{
			name: "an artifact no sample can be made for is an error naming it",
			files: map[string]string{"egg.yaml": strings.ReplaceAll(example("pyspark.yaml"),
				"s3://artifacts/marketing/campaigns/1.0.0/features.py", "s3://artifacts/marketing/campaigns/1.0.0/features.egg")},
			wantErr: "no sample for s3://artifacts/marketing/campaigns/1.0.0/features.egg",
		},
		{
			name:    "a directory without descriptors is an error, not a silent empty seed",
			files:   map[string]string{"cdesim-seed.yaml": example("cdesim-seed.yaml")},
			wantErr: "nothing to seed",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for name, text := range tt.files {
				fsys[name] = &fstest.MapFile{Data: []byte(text)}
			}
			srv := start(t, s3local.Options{})
			err := s3local.SeedExamplesFrom(t.Context(), srv, fsys)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			store := storeFromEnv(t, srv)
			for _, l := range tt.want {
				obj, err := store.Stat(t.Context(), l)
				require.NoError(t, err, "%s exists", l)
				assert.Positive(t, obj.Size)
			}
		})
	}
}

func TestExamplesDirIsFoundFromInsideTheRepository(t *testing.T) {
	dir, err := s3local.ExamplesDir()
	require.NoError(t, err)
	for _, f := range exampleFiles {
		assert.FileExists(t, filepath.Join(dir, f))
	}

	t.Run("outside the repository it is a clear error", func(t *testing.T) {
		t.Chdir(t.TempDir())
		_, err := s3local.ExamplesDir()
		require.ErrorContains(t, err, "SeedExamplesFrom")
		srv := start(t, s3local.Options{})
		assert.Error(t, s3local.SeedExamples(t.Context(), srv))
	})
}
