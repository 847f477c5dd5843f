package s3local

import (
	"archive/zip"
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/witboost-community/cde-spark-provisioner/descriptor"
)

// ModulePath is the module whose examples directory SeedExamples looks for.
const ModulePath = "github.com/witboost-community/cde-spark-provisioner"

// samples holds the contents of the sample artifacts (Python files, requirements, the files
// of Python packages zipped at seed time). Jars are built at seed time from the descriptor.
// "all:" because a plain pattern leaves out files starting with "_", such as __init__.py.
// Embedded files are read-only.
//
//go:embed all:samples
var samples embed.FS

// sampleTime is the modification time written in generated archives, so that seeding the
// same examples always produces the same bytes, hence the same ETags.
func sampleTime() time.Time { return time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC) }

// SeedExamples uploads a sample artifact for every S3 location named by the example
// descriptors of the repository (examples/*.yaml, found from the working directory), creating
// their buckets. The locations come from the descriptors themselves (descriptor.Check and
// Artifacts), so the seed follows the examples when they change.
func SeedExamples(ctx context.Context, srv *Server) error {
	dir, err := ExamplesDir()
	if err != nil {
		return err
	}
	return SeedExamplesFrom(ctx, srv, os.DirFS(dir))
}

// ExamplesDir finds the repository's examples directory by walking up from the working
// directory to the go.mod of ModulePath: `make run`, `go test` and the end-to-end tests all
// run inside the repository.
func ExamplesDir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("s3local: find the examples: %w", err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if modulePath(filepath.Join(dir, "go.mod")) == ModulePath {
			return filepath.Join(dir, "examples"), nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("s3local: find the examples: no go.mod of %s in %s or above; run inside the repository or use SeedExamplesFrom", ModulePath, wd)
		}
	}
}

// modulePath is the module path declared by a go.mod file, "" when there is none.
func modulePath(gomod string) string {
	data, err := os.ReadFile(gomod)
	if err != nil {
		return ""
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}

// SeedExamplesFrom is SeedExamples for the component descriptors in fsys: every *.yaml file
// at its root with a componentIdToProvision key (other files, like the CDE simulator's seed,
// are not descriptors and are skipped). A descriptor with problems, or an artifact for which
// no sample can be made, is an error: the examples must be complete.
func SeedExamplesFrom(ctx context.Context, srv *Server, fsys fs.FS) error {
	files, err := fs.Glob(fsys, "*.yaml")
	if err != nil {
		return fmt.Errorf("s3local: list the examples: %w", err)
	}
	seeded := map[descriptor.S3Location]bool{}
	buckets := map[string]bool{}
	for _, file := range files {
		d, err := readExample(fsys, file)
		if err != nil {
			return err
		}
		if d == nil {
			continue
		}
		for _, a := range d.Artifacts() {
			if seeded[a.Location] {
				continue
			}
			content, err := sampleFor(d.Component.Specific, a)
			if err != nil {
				return fmt.Errorf("s3local: %s: %w", file, err)
			}
			if !buckets[a.Location.Bucket] {
				if err := srv.CreateBucket(ctx, a.Location.Bucket); err != nil {
					return err
				}
				buckets[a.Location.Bucket] = true
			}
			if err := srv.Put(ctx, a.Location.Bucket, a.Location.Key, bytes.NewReader(content), int64(len(content))); err != nil {
				return err
			}
			seeded[a.Location] = true
		}
	}
	if len(seeded) == 0 {
		return fmt.Errorf("s3local: no artifact in the examples (%d YAML files): nothing to seed", len(files))
	}
	return nil
}

// readExample decodes one example; nil without error when the file is not a component
// descriptor.
func readExample(fsys fs.FS, file string) (*descriptor.Descriptor, error) {
	text, err := fs.ReadFile(fsys, file)
	if err != nil {
		return nil, fmt.Errorf("s3local: read example: %w", err)
	}
	var probe struct {
		ComponentIDToProvision *string `yaml:"componentIdToProvision"`
	}
	if err := yaml.Unmarshal(text, &probe); err != nil {
		return nil, fmt.Errorf("s3local: example %s: %w", file, err)
	}
	if probe.ComponentIDToProvision == nil {
		return nil, nil
	}
	d, problems := descriptor.Check(string(text))
	if len(problems) > 0 {
		return nil, fmt.Errorf("s3local: example %s is not a valid descriptor: %w", file, problems)
	}
	if d == nil { // Check returns problems whenever it returns no descriptor; kept for safety
		return nil, fmt.Errorf("s3local: example %s: no component to seed", file)
	}
	return d, nil
}

// sampleFor makes the content of one artifact, chosen by its role and file name: a sample of
// the same name if there is one, else a generic one of the same kind.
func sampleFor(spec descriptor.Specific, a descriptor.Artifact) ([]byte, error) {
	name := a.Location.Basename()
	ext := path.Ext(name)
	stem := strings.TrimSuffix(name, ext)
	switch {
	case a.Role == descriptor.RoleRequirements:
		return samples.ReadFile("samples/requirements.txt")
	case ext == ".jar":
		var mainClass string
		if a.Role == descriptor.RoleApplication {
			mainClass = spec.ClassName
		}
		return buildJar(stem, mainClass)
	case ext == ".zip":
		return buildPythonZip(stem)
	case ext == ".py":
		if data, err := samples.ReadFile("samples/" + name); err == nil {
			return data, nil
		}
		return samples.ReadFile("samples/default.py")
	}
	return nil, fmt.Errorf("no sample for %s (%s): add one to internal/s3local/samples or a generator to internal/s3local/seed.go", a.Location, a.Field)
}

// buildJar makes a genuine jar: a zip whose first entries are META-INF/ and its manifest, as
// the jar tool writes them (java.util.jar.JarInputStream only finds a manifest that comes
// first). No class file: CDE stores the jar, it does not run it here.
func buildJar(title, mainClass string) ([]byte, error) {
	attrs := [][2]string{
		{"Manifest-Version", "1.0"},
		{"Created-By", "cde-spark-provisioner s3local"},
		{"Implementation-Title", title},
	}
	if mainClass != "" {
		attrs = append(attrs, [2]string{"Main-Class", mainClass})
	}
	return buildZip([]zipEntry{
		{name: "META-INF/"},
		{name: "META-INF/MANIFEST.MF", data: manifest(attrs)},
	})
}

// manifest renders JAR manifest attributes: CRLF lines of at most 72 bytes, longer values
// continued on lines starting with a space, and a blank line to end the main section.
func manifest(attrs [][2]string) []byte {
	const maxLine = 72
	var b bytes.Buffer
	for _, kv := range attrs {
		line := kv[0] + ": " + kv[1]
		width := maxLine
		for len(line) > width {
			cut := width
			for cut > 0 && line[cut]&0xC0 == 0x80 { // never split a UTF-8 sequence
				cut--
			}
			b.WriteString(line[:cut] + "\r\n ")
			line = line[cut:]
			width = maxLine - 1 // the leading space counts
		}
		b.WriteString(line + "\r\n")
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// buildPythonZip makes a zip of the Python package named stem (for spark-submit --py-files):
// the files of samples/<stem>/ if there is such a sample, else a package with an __init__.py.
func buildPythonZip(stem string) ([]byte, error) {
	var entries []zipEntry
	root := "samples/" + stem
	err := fs.WalkDir(samples, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := samples.ReadFile(p)
		entries = append(entries, zipEntry{name: strings.TrimPrefix(p, "samples/"), data: data})
		return err
	})
	if errors.Is(err, fs.ErrNotExist) {
		entries = []zipEntry{{
			name: stem + "/__init__.py",
			data: fmt.Appendf(nil, "\"\"\"Python package %s, a sample dependency served by s3local.\"\"\"\n", stem),
		}}
	} else if err != nil {
		return nil, err
	}
	return buildZip(entries)
}

type zipEntry struct {
	name string // a trailing slash makes a directory
	data []byte
}

func buildZip(entries []zipEntry) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate, Modified: sampleTime()}
		if strings.HasSuffix(e.name, "/") {
			h.Method = zip.Store
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
