package descriptor

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ComponentIDPrefix starts every component id.
const ComponentIDPrefix = "urn:dmb:cmp:"

// ComponentID is a parsed component id: ComponentIDPrefix followed by a non-empty rest.
//
// The Witboost template writes the rest as <domain>:<data product>:<major>:<name>
// (urn:dmb:cmp:finance:cashflow:0:spark-wl), but the reference provisioner accepted any rest
// (its own tests use urn:dmb:cmp:my_dm.my_dp.1.my_wl), and so does this one: a component it
// deployed must stay deployable and removable here, under the same job name. Nothing is read
// from the parts of the rest; the job name is derived from the rest as a whole (ExpectedJobName).
type ComponentID struct {
	// Rest is the id without ComponentIDPrefix, as given (never empty).
	Rest string
}

// ParseComponentID accepts every id the reference provisioner accepted: ComponentIDPrefix
// (case-sensitive) followed by at least one character, whatever the characters and however many
// parts the rest has.
func ParseComponentID(id string) (ComponentID, error) {
	rest, ok := strings.CutPrefix(id, ComponentIDPrefix)
	switch {
	case !ok:
		return ComponentID{}, fmt.Errorf("component id %q does not start with %s", id, ComponentIDPrefix)
	case rest == "":
		return ComponentID{}, fmt.Errorf("component id %q has nothing after %s", id, ComponentIDPrefix)
	}
	return ComponentID{Rest: rest}, nil
}

// componentIDProblem is the problem of a component id that ParseComponentID refuses, at field.
func componentIDProblem(field, id string) Problem {
	return Problem{
		Field:    field,
		Message:  fmt.Sprintf("The component id '%s' is not a component id: it must start with %s followed by the rest of the id", id, ComponentIDPrefix),
		Solution: "Give the component an id like urn:dmb:cmp:finance:cashflow:0:spark-wl, as Witboost generates it.",
	}
}

// ExpectedJobName is the CDE job name the reference provisioner enforces (reference/witboost-api.md
// 4.4): the component id without "urn:dmb:cmp:", a dash, the environment, with every character
// that is not an ASCII letter or digit (underscores and dots included) replaced by a dash.
// e.g. urn:dmb:cmp:finance:cashflow:0:spark-wl in development → finance-cashflow-0-spark-wl-development.
func ExpectedJobName(componentID, environment string) string {
	raw := strings.TrimPrefix(componentID, ComponentIDPrefix) + "-" + environment
	out := make([]byte, 0, len(raw))
	for _, r := range raw {
		if r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			out = append(out, byte(r))
		} else {
			out = append(out, '-')
		}
	}
	return string(out)
}

// MainResourceName is the CDE `files` resource holding the job's application file and
// dependencies: "mainres-" + md5 hex of the job name, as the reference names it (so a job
// deployed by the reference provisioner is updated in place, and long names stay bounded).
func MainResourceName(jobName string) string { return "mainres-" + md5Hex(jobName) }

// PyEnvResourceName is the CDE `python-env` resource of a PySpark job with a requirements file:
// "pyenvres-" + md5 hex of the job name.
func PyEnvResourceName(jobName string) string { return "pyenvres-" + md5Hex(jobName) }

// PyEnvAltResourceName is the second `python-env` slot of a job: a new Python version is built in
// the slot the deployed job does not use, so the job keeps a ready environment until it switches;
// the slot it left is deleted after.
func PyEnvAltResourceName(jobName string) string { return PyEnvResourceName(jobName) + "-b" }

// ManifestResourceName is the `files` resource where the provisioner keeps its upload manifest
// (activities.ManifestPath): beside the job, never mounted by it, so the job's own resources hold
// exactly the user's artifacts.
func ManifestResourceName(jobName string) string { return "manifestres-" + md5Hex(jobName) }

func md5Hex(s string) string {
	sum := md5.Sum([]byte(s)) // a name, not a security boundary: md5 is what the reference used
	return hex.EncodeToString(sum[:])
}

// S3Location is a parsed s3://bucket/key location.
type S3Location struct {
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
}

// String renders the location back as s3://bucket/key.
func (l S3Location) String() string { return "s3://" + l.Bucket + "/" + l.Key }

// Basename is the file name of the object: the key after its last slash. It is the name under
// which the file is stored in the CDE resource and referenced by the job.
func (l S3Location) Basename() string { return l.Key[strings.LastIndexByte(l.Key, '/')+1:] }

// bucketPattern follows the S3 bucket naming rules (3-63 characters, lowercase letters, digits,
// dots and hyphens, starting and ending with a letter or digit).
var bucketPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// ParseS3Location parses an s3://bucket/key location and checks that the key ends with a file
// name that is safe to use as a file of a CDE resource.
func ParseS3Location(loc string) (S3Location, error) {
	rest, ok := strings.CutPrefix(loc, "s3://")
	if !ok {
		return S3Location{}, fmt.Errorf("%q is not an S3 location (s3://bucket/key)", loc)
	}
	bucket, key, ok := strings.Cut(rest, "/")
	if !ok || key == "" {
		return S3Location{}, fmt.Errorf("%q has no object key after the bucket", loc)
	}
	if !bucketPattern.MatchString(bucket) || strings.Contains(bucket, "..") {
		return S3Location{}, fmt.Errorf("%q: %q is not a valid S3 bucket name", loc, bucket)
	}
	l := S3Location{Bucket: bucket, Key: key}
	if err := checkBasename(l.Basename()); err != nil {
		return S3Location{}, fmt.Errorf("%q: %w", loc, err)
	}
	return l, nil
}

// checkBasename refuses file names that would escape or confuse the CDE resource's file tree.
func checkBasename(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("the key ends with a slash, so it names a folder, not a file")
	case name == "." || name == "..":
		return fmt.Errorf("the file name %q is not a file", name)
	case strings.ContainsRune(name, '\\'):
		return fmt.Errorf("the file name %q contains a backslash", name)
	case len(name) > 255:
		return fmt.Errorf("the file name is longer than 255 bytes")
	}
	for _, r := range name {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return fmt.Errorf("the file name %q contains a control or invalid character", name)
		}
	}
	return nil
}

// ArtifactRole says what an artifact is to the job.
type ArtifactRole string

// Artifact roles.
const (
	RoleApplication  ArtifactRole = "application"
	RoleDependency   ArtifactRole = "dependency"
	RoleRequirements ArtifactRole = "requirements"
)

// Artifact is one file the job needs from S3.
type Artifact struct {
	Role ArtifactRole `json:"role"`
	// Field is the full dot path of the location in the descriptor.
	Field    string     `json:"field"`
	Location S3Location `json:"location"`
}

// Artifacts lists the files of the job that must exist on S3, in a stable order: the application
// file, the dependencies, the kind's own files (the requirements file). Locations that do not
// parse are left out (Validate reports them).
func (d *Descriptor) Artifacts() []Artifact {
	var out []Artifact
	d.Component.Specific.files(func(f file, index int, loc string) {
		if l, err := ParseS3Location(loc); err == nil {
			out = append(out, Artifact{Role: f.role, Field: d.Path(indexed(f.field, index)), Location: l})
		}
	})
	return out
}

// indexed is the field of the index-th element of a list field, or the field itself for index -1.
func indexed(field string, index int) string {
	if index < 0 {
		return field
	}
	return field + "[" + strconv.Itoa(index) + "]"
}

// ArtifactNotFound is the problem an activity reports when an artifact is missing on S3,
// worded by the artifact's role as the reference worded it, naming the location.
func ArtifactNotFound(a Artifact) Problem {
	rule := ApplicationFileNotFound
	if r, ok := roles[a.Role]; ok {
		rule = r.rule
	}
	return rule.At(a.Field, a.Location.String()+" does not exist")
}
