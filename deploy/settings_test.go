package deploy

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
	"go.temporal.io/sdk/client"
	"gopkg.in/yaml.v3"

	"github.com/witboost-community/cde-spark-provisioner/api"
	"github.com/witboost-community/cde-spark-provisioner/internal/app"
)

// One source per setting: the Go configuration structs (their `env:` tags and defaults) are
// the source of every variable the api and the worker read themselves. TestSettingsAgreeWithTheCode
// reads them by reflection and checks every other place that names them (the README's
// configuration table, .env.example, docker-compose.yml, the chart) against them, so that no
// copy can drift. The other deploy tests start from the README's table (which, through this
// test, holds every variable of the code) and check how each place wires it.

// The places a setting must appear in, with its default where the place states one.
const (
	placeREADME        = "README configuration table"
	placeEnvExample    = ".env.example"
	placeComposeAPI    = "docker-compose.yml, api environment"
	placeComposeWorker = "docker-compose.yml, worker environment"
	placeChartAPI      = "chart, api Deployment with the default values"
	placeChartWorker   = "chart, worker Deployment with the default values"
	placeChartREADME   = "chart README, table of values"
)

// Kinds of exception.
const (
	absent  = "absent"  // the place leaves the variable out
	differs = "differs" // the place gives it another value than the code's default
)

// settingExceptions are the deliberate departures from "every variable of the code is in every
// place, with the code's default": the one table of them. An exception that no longer applies
// fails the test too, so the table stays true.
var settingExceptions = []struct {
	variable, place, kind, reason string
}{
	// Addresses fixed inside the containers.
	{"HTTP_ADDR", placeEnvExample, absent, "fixed inside the container (docker-compose.yml); API_PUBLISH chooses the host side"},
	{"HEALTH_ADDR", placeEnvExample, absent, "fixed inside the container (docker-compose.yml); only the health check uses it"},
	{"TEMPORAL_ADDRESS", placeEnvExample, absent, "compose points both processes at the stack's own server; deploy/compose/temporal-*.env.example set it for a secured Temporal"},
	{"TEMPORAL_ADDRESS", placeComposeAPI, differs, "the stack's own server (temporal:7233), not the client's localhost default"},
	{"TEMPORAL_ADDRESS", placeComposeWorker, differs, "the stack's own server (temporal:7233), not the client's localhost default"},
	{"TEMPORAL_ADDRESS", placeChartAPI, differs, "a Temporal frontend in the cluster, not the pod's localhost"},
	{"TEMPORAL_ADDRESS", placeChartWorker, differs, "a Temporal frontend in the cluster, not the pod's localhost"},

	// Access control: off in the code (tests, make run), required where the API is deployed.
	{"AUTH_TOKEN_FILE", placeEnvExample, differs, "the compose stack talks to real CDP and may be published: the example turns the bearer token on (README, Access control)"},
	{"AUTH_TOKEN_FILE", placeChartAPI, differs, "the chart refuses an API without access control: its default values name the token Secret, mounted as this file"},
	{"TLS_CERT_FILE", placeChartAPI, absent, "set only when api.tls.existingSecret names a Secret (a file path, off by default as in the code)"},
	{"TLS_KEY_FILE", placeChartAPI, absent, "set only when api.tls.existingSecret names a Secret (a file path, off by default as in the code)"},
	{"TLS_CLIENT_CA_FILE", placeChartAPI, absent, "set only when api.tls.clientCAConfigMap names a ConfigMap (off by default as in the code)"},
	{"TLS_CLIENT_ALLOWED_NAMES", placeChartAPI, absent, "set only when api.tls.clientAllowedNames is not empty (empty is the code's default)"},

	// The artifact allowlist: unrestricted in the code (with a warning), scoped where deployed.
	{"S3_ALLOWED_PREFIXES", placeEnvExample, differs, "the example scopes each data product to its own prefix of a bucket to name (TestComposeS3AllowedPrefixes)"},
	{"S3_ALLOWED_PREFIXES", placeComposeWorker, differs, "unset in .env, compose refuses every artifact (s3://<bucket>/) rather than allow all (TestComposeS3AllowedPrefixes)"},
	{"S3_ALLOWED_PREFIXES", placeChartWorker, differs, "the chart scopes each data product to its own prefix of a bucket to name (TestHelmS3AllowedPrefixes)"},
}

// externalSettings are the README variables that no env tag of ours reads: a library reads
// them from the environment itself, with its own defaults.
var externalSettings = map[string]string{
	"TEMPORAL_TLS":                     "Temporal's client configuration (go.temporal.io/sdk/contrib/envconfig)",
	"TEMPORAL_TLS_CLIENT_CERT_PATH":    "Temporal's client configuration",
	"TEMPORAL_TLS_CLIENT_KEY_PATH":     "Temporal's client configuration",
	"TEMPORAL_TLS_SERVER_CA_CERT_PATH": "Temporal's client configuration",
	"TEMPORAL_TLS_SERVER_NAME":         "Temporal's client configuration",
	"TEMPORAL_API_KEY":                 "Temporal's client configuration",
	"TEMPORAL_CONFIG_FILE":             "Temporal's client configuration",
	"TEMPORAL_PROFILE":                 "Temporal's client configuration",
	"AWS_REGION":                       "the AWS SDK (artifacts.New, config.LoadDefaultConfig)",
	"AWS_ACCESS_KEY_ID":                "the AWS SDK",
	"AWS_SECRET_ACCESS_KEY":            "the AWS SDK",
	"AWS_SESSION_TOKEN":                "the AWS SDK",
	"AWS_ENDPOINT_URL_S3":              "the AWS SDK",
	"OTEL_EXPORTER_OTLP_ENDPOINT":      "OpenTelemetry's OTLP exporter (internal/telemetry)",
	"SSL_CERT_FILE":                    "Go's crypto/x509 (system roots)",
}

// defaultsAppliedInCode are the defaults the code applies after reading the environment (the
// field's zero value stands for them), each from its one Go source: such a variable must have no
// default in its tag, or there would be two.
var defaultsAppliedInCode = map[string]struct{ value, where string }{
	"MAX_REQUEST_BYTES":  {strconv.Itoa(api.DefaultMaxBodyBytes), "api.New: 0 is api.DefaultMaxBodyBytes"},
	"TEMPORAL_ADDRESS":   {client.DefaultHostPort, "Temporal's client: no address is client.DefaultHostPort"},
	"TEMPORAL_NAMESPACE": {client.DefaultNamespace, "Temporal's client: no namespace is client.DefaultNamespace"},
}

// configTypes are the configuration types the commands' config structs hold, by the name
// cmd/*/main.go gives them.
var configTypes = map[string]reflect.Type{
	"app.APIConfig":    reflect.TypeFor[app.APIConfig](),
	"app.WorkerConfig": reflect.TypeFor[app.WorkerConfig](),
	"app.LogConfig":    reflect.TypeFor[app.LogConfig](),
}

// scalarTypes are the types a tagged field of cmd/*/main.go may have, by name.
var scalarTypes = map[string]reflect.Type{
	"string": reflect.TypeFor[string](), "bool": reflect.TypeFor[bool](), "int": reflect.TypeFor[int](),
	"int64": reflect.TypeFor[int64](), "time.Duration": reflect.TypeFor[time.Duration](),
}

// setting is one variable a process reads through an env tag.
type setting struct {
	name     string
	procs    []string     // api, worker
	root     reflect.Type // the process's config struct (a copy of cmd/<proc>'s)
	index    []int        // of the field in root
	field    string       // the field's Go path, for messages
	required bool
	tagDef   string // the tag's default=, "" if none
}

// processConfig rebuilds the config struct of cmd/<proc>/main.go (unexported there) as a type:
// the same fields, types and tags. A field of a type this test does not know fails the test.
func processConfig(t *testing.T, proc string) reflect.Type {
	t.Helper()
	path := "../cmd/" + proc + "/main.go"
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	var fields []reflect.StructField
	found := false
	ast.Inspect(f, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok || ts.Name.Name != "config" {
			return true
		}
		st, ok := ts.Type.(*ast.StructType)
		if !ok {
			t.Fatalf("%s: config is not a struct", path)
		}
		found = true
		for _, fl := range st.Fields.List {
			typeName := exprString(fl.Type)
			var tag reflect.StructTag
			if fl.Tag != nil {
				s, _ := strconv.Unquote(fl.Tag.Value)
				tag = reflect.StructTag(s)
			}
			typ, ok := configTypes[typeName]
			if !ok {
				typ, ok = scalarTypes[typeName]
			}
			if !ok {
				t.Fatalf("%s: config field of type %s: add the type to configTypes (or scalarTypes) in deploy/settings_test.go so that its variables are checked", path, typeName)
			}
			for _, name := range fl.Names {
				fields = append(fields, reflect.StructField{Name: name.Name, Type: typ, Tag: tag})
			}
		}
		return false
	})
	if !found {
		t.Fatalf("%s: no config struct (the test reads the process's settings from it)", path)
	}
	return reflect.StructOf(fields)
}

func exprString(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.SelectorExpr:
		return exprString(e.X) + "." + e.Sel.Name
	case *ast.StarExpr:
		return "*" + exprString(e.X)
	}
	return fmt.Sprintf("%T", e)
}

// envTag splits an env tag as go-envconfig does: the name, then options, default= taking the rest.
func envTag(tag string) (name string, required bool, def string, prefix string) {
	name, rest, _ := strings.Cut(tag, ",")
	name = strings.TrimSpace(name)
	for rest != "" {
		var opt string
		opt, rest, _ = strings.Cut(rest, ",")
		opt = strings.TrimSpace(opt)
		switch {
		case strings.HasPrefix(opt, "default="):
			def = strings.TrimPrefix(opt, "default=")
			if rest != "" {
				def += "," + rest
			}
			rest = ""
		case strings.HasPrefix(opt, "prefix="):
			prefix = strings.TrimPrefix(opt, "prefix=")
		case opt == "required":
			required = true
		}
	}
	return name, required, def, prefix
}

// walkSettings lists the variables go-envconfig reads into typ: tagged fields, and the fields of
// nested structs (untagged, or with prefix=), as its Process does.
func walkSettings(typ reflect.Type, index []int, path, prefix string, visit func(name string, index []int, field string, required bool, def string)) {
	for i := range typ.NumField() {
		f := typ.Field(i)
		if !f.IsExported() {
			continue
		}
		name, required, def, pfx := envTag(f.Tag.Get("env"))
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		idx := append(slices.Clone(index), i)
		switch {
		case name != "":
			visit(prefix+name, idx, path+"."+f.Name, required, def)
		case ft.Kind() == reflect.Struct:
			walkSettings(ft, idx, path+"."+f.Name, prefix+pfx, visit)
		}
	}
}

// codeSettings are the variables of the api's and the worker's config structs, by name.
func codeSettings(t *testing.T) map[string]*setting {
	t.Helper()
	out := map[string]*setting{}
	for _, proc := range []string{"api", "worker"} {
		root := processConfig(t, proc)
		walkSettings(root, nil, "cmd/"+proc+".config", "", func(name string, index []int, field string, required bool, def string) {
			if s, ok := out[name]; ok {
				s.procs = append(s.procs, proc)
				if s.required != required || s.tagDef != def {
					t.Errorf("%s is read by the api (%s) and the worker (%s) with different defaults or requiredness", name, s.field, field)
				}
				return
			}
			out[name] = &setting{name: name, procs: []string{proc}, root: root, index: index, field: field, required: required, tagDef: def}
		})
	}
	if len(out) < 20 {
		t.Fatalf("read %d settings from the config structs: too few (did the walk break?)", len(out))
	}
	return out
}

// valueOf is what the process's field holds when the environment holds only vars (and a
// placeholder for every required variable): the value parsed as the process parses it.
func (s *setting) valueOf(all map[string]*setting, vars map[string]string) (any, error) {
	env := map[string]string{}
	for name, o := range all {
		if o.required && o.root == s.root {
			env[name] = "x"
		}
	}
	maps.Copy(env, vars)
	v := reflect.New(s.root)
	err := envconfig.ProcessWith(context.Background(), &envconfig.Config{Target: v.Interface(), Lookuper: envconfig.MapLookuper(env)})
	if err != nil {
		return nil, err
	}
	return v.Elem().FieldByIndex(s.index).Interface(), nil
}

// codeDefault is the value the process runs with when the variable is unset, and how the
// README would write it.
func (s *setting) codeDefault(t *testing.T, all map[string]*setting) (any, string) {
	t.Helper()
	zero, err := s.valueOf(all, nil)
	if err != nil {
		t.Fatalf("%s: %v", s.name, err)
	}
	applied, ok := defaultsAppliedInCode[s.name]
	if !ok {
		return zero, s.tagDef
	}
	if s.tagDef != "" || !reflect.ValueOf(zero).IsZero() {
		t.Errorf("%s: %s has default=%s in its tag while %s: two sources of one default, drop the tag's", s.name, s.field, s.tagDef, applied.where)
	}
	v, err := s.valueOf(all, map[string]string{s.name: applied.value})
	if err != nil {
		t.Fatalf("%s: the default applied in code, %q: %v", s.name, applied.value, err)
	}
	return v, applied.value
}

// sameAsCode reports whether value, read by the process, is its default.
func (s *setting) sameAsCode(all map[string]*setting, value string, def any) (bool, error) {
	v, err := s.valueOf(all, map[string]string{s.name: value})
	if err != nil {
		return false, err
	}
	return reflect.DeepEqual(v, def), nil
}

// envExampleValues are the NAME=value lines of an env file (a commented-out line counts).
func envExampleValues(t *testing.T, path string) map[string]string {
	t.Helper()
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	line := regexp.MustCompile(`^#? ?([A-Z][A-Z0-9_]*)=(.*)$`)
	for l := range strings.Lines(string(text)) {
		if m := line.FindStringSubmatch(strings.TrimRight(l, "\r\n")); m != nil {
			out[m[1]] = m[2]
		}
	}
	return out
}

// composeEnvironments are the raw environment maps of docker-compose.yml's services (anchors
// merged), before interpolation: "${NAME:-default}" or a fixed value.
func composeEnvironments(t *testing.T) map[string]map[string]string {
	t.Helper()
	text, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Services map[string]struct {
			Environment map[string]string `yaml:"environment"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(text, &f); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	out := map[string]map[string]string{}
	for name, svc := range f.Services {
		out[name] = svc.Environment
	}
	return out
}

// composeDefault is the value a compose environment entry gives NAME when .env does not set it:
// the default of "${NAME:-default}" (or "${NAME-default}", "${NAME}": empty), or a fixed value.
func composeDefault(name, raw string) (string, error) {
	if !strings.Contains(raw, "${") {
		return raw, nil
	}
	m := regexp.MustCompile(`^\$\{` + name + `(?::?-([^${}]*))?\}$`).FindStringSubmatch(raw)
	if m == nil {
		return "", fmt.Errorf("%q is neither a fixed value nor ${%s:-default}", raw, name)
	}
	return m[1], nil
}

func TestSettingsAgreeWithTheCode(t *testing.T) {
	settings := codeSettings(t)
	readme, readmeDefaults := readmeTable(t)
	envExample := envExampleValues(t, "../.env.example")
	compose := composeEnvironments(t)
	chartREADME, err := os.ReadFile("helm/cde-spark-provisioner/README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, apiC, _, workerC := apiAndWorker(t)
	charts := map[string]container{placeChartAPI: apiC, placeChartWorker: workerC}

	exceptions := map[[2]string]string{} // {variable, place} → kind
	for _, e := range settingExceptions {
		if _, ok := settings[e.variable]; !ok {
			t.Errorf("settingExceptions: %s is not a variable of the code", e.variable)
		}
		if e.reason == "" {
			t.Errorf("settingExceptions: %s in %s has no reason", e.variable, e.place)
		}
		exceptions[[2]string{e.variable, e.place}] = e.kind
	}
	used := map[[2]string]bool{}
	// departs reports whether the variable is excepted in place with that kind, and records
	// that the exception was needed.
	departs := func(name, place, kind string) bool {
		k := [2]string{name, place}
		if exceptions[k] == kind {
			used[k] = true
			return true
		}
		return false
	}

	names := slices.Sorted(maps.Keys(settings))
	for _, name := range names {
		s := settings[name]
		def, defText := s.codeDefault(t, settings)
		describe := fmt.Sprintf("%q", defText)
		if s.required {
			describe = "none (required)"
		} else if defText == "" {
			describe = fmt.Sprintf("unset (%v)", def)
		}
		// check compares a value a place states with the code's default.
		check := func(place, value string) {
			if s.required {
				if value != "" {
					t.Errorf("%s: %s gives the required %s the value %q: a required setting has no default, leave it empty", name, place, name, value)
				}
				return
			}
			same, err := s.sameAsCode(settings, value, def)
			switch {
			case err != nil && departs(name, place, differs):
			case err != nil:
				t.Errorf("%s: %s gives it %q, which the process refuses: %v", name, place, value, err)
			case !same && !departs(name, place, differs):
				t.Errorf("%s: %s gives it %q, the code's default (%s) is %s: make them agree, or list the difference with its reason in settingExceptions", name, place, value, s.field, describe)
			}
		}
		missing := func(place string) {
			if !departs(name, place, absent) {
				t.Errorf("%s (%s) is missing from the %s: add it there, or list why not in settingExceptions", name, s.field, place)
			}
		}

		// README: a row, the processes that read it, and the default.
		var procs []string
		for _, p := range []string{"api", "worker"} {
			if slices.Contains(readme[p], name) {
				procs = append(procs, p)
			}
		}
		switch {
		case len(procs) == 0:
			missing(placeREADME)
		case !slices.Equal(procs, s.procs):
			t.Errorf("%s: the %s says it is used by %v, the code reads it in %v", name, placeREADME, procs, s.procs)
		default:
			col := readmeDefaults[name]
			quoted := regexp.MustCompile("`([^`]*)`").FindStringSubmatch(col)
			switch {
			case s.required:
				if col != "required" {
					t.Errorf("%s: the %s's default column says %q, want \"required\" (%s is required)", name, placeREADME, col, s.field)
				}
			case quoted != nil:
				check(placeREADME, quoted[1])
			case col == "off" && defText == "":
			default:
				t.Errorf("%s: the %s's default column says %q: want the code's default %s in backquotes (or \"off\" for an unset setting)", name, placeREADME, col, describe)
			}
		}

		// .env.example: a line; a value there is the default unless excepted.
		if v, ok := envExample[name]; !ok {
			missing(placeEnvExample)
		} else if v != "" {
			check(placeEnvExample, v)
		}

		// docker-compose.yml: the environment of each process that reads it.
		for _, p := range s.procs {
			place := map[string]string{"api": placeComposeAPI, "worker": placeComposeWorker}[p]
			raw, ok := compose[p][name]
			if !ok {
				missing(place)
				continue
			}
			v, err := composeDefault(name, raw)
			if err != nil {
				t.Errorf("%s: %s: %v", name, place, err)
				continue
			}
			check(place, v)
		}

		// The chart: the env of each process's Deployment, rendered with the default values.
		for _, p := range s.procs {
			place := map[string]string{"api": placeChartAPI, "worker": placeChartWorker}[p]
			e, ok := charts[place].env(name)
			switch {
			case !ok:
				missing(place)
			case e.Value != nil:
				check(place, *e.Value)
			case !s.required:
				t.Errorf("%s: %s takes it from %+v, not a value: only credentials come from Secrets", name, place, e.ValueFrom)
			}
		}
		if !strings.Contains(string(chartREADME), "`"+name+"`") {
			missing(placeChartREADME)
		}
	}

	for _, e := range settingExceptions {
		if k := [2]string{e.variable, e.place}; !used[k] {
			t.Errorf("settingExceptions: %s is no longer %s in the %s: remove the exception", e.variable, e.kind, e.place)
		}
	}

	t.Run("every README variable is a setting of the code or one a library reads", func(t *testing.T) {
		for _, name := range slices.Compact(slices.Sorted(slices.Values(append(readme["api"], readme["worker"]...)))) {
			_, ours := settings[name]
			lib, theirs := externalSettings[name]
			switch {
			case ours && theirs:
				t.Errorf("%s is both an env tag of ours and listed as read by %s", name, lib)
			case !ours && !theirs:
				t.Errorf("%s is in the %s but no config struct reads it: remove the row, or list the library that reads it in externalSettings", name, placeREADME)
			}
		}
	})
}

// recordingLookuper answers from values and records every variable asked for.
type recordingLookuper struct {
	values map[string]string
	asked  *[]string
}

func (l recordingLookuper) Lookup(key string) (string, bool) {
	*l.asked = append(*l.asked, key)
	v, ok := l.values[key]
	return v, ok
}

// envconfigReads lists the variables go-envconfig itself asks for when it fills typ (a
// placeholder is given to each required one it stops at).
func envconfigReads(t *testing.T, typ reflect.Type) []string {
	t.Helper()
	values := map[string]string{}
	for range 100 {
		var asked []string
		err := envconfig.ProcessWith(context.Background(), &envconfig.Config{
			Target: reflect.New(typ).Interface(), Lookuper: recordingLookuper{values, &asked},
		})
		if errors.Is(err, envconfig.ErrMissingRequired) {
			msg := err.Error()
			values[msg[strings.LastIndex(msg, ": ")+2:]] = "1" // parses as a string and as a number
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		return slices.Compact(slices.Sorted(slices.Values(asked)))
	}
	t.Fatalf("%s: too many required variables", typ)
	return nil
}

// TestSettingsWalkReadsWhatEnvconfigReads checks walkSettings, the reflection TestSettingsAgreeWithTheCode
// relies on, against go-envconfig: the same variables, nested structs and prefix= included.
func TestSettingsWalkReadsWhatEnvconfigReads(t *testing.T) {
	type inner struct {
		A     string `env:"A, default=a"`
		B     int    `env:"B, required"`
		Plain int
	}
	type sample struct {
		Top      string `env:"TOP"`
		Nested   inner
		Prefixed inner  `env:", prefix=P_"`
		Pointer  *inner `env:", prefix=Q_"`
		Skipped  func()
	}
	types := map[string]reflect.Type{"a sample with nested, prefixed and pointer structs": reflect.TypeFor[sample]()}
	for _, proc := range []string{"api", "worker"} {
		types["cmd/"+proc] = processConfig(t, proc)
	}
	for name, typ := range types {
		t.Run(name, func(t *testing.T) {
			var walked []string
			walkSettings(typ, nil, "", "", func(name string, _ []int, _ string, _ bool, _ string) { walked = append(walked, name) })
			walked = slices.Sorted(slices.Values(walked))
			if read := envconfigReads(t, typ); !slices.Equal(walked, read) {
				t.Errorf("the walk finds %v, go-envconfig reads %v", walked, read)
			}
		})
	}
}
