package descriptor

import (
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Validate applies every static rule to a decoded descriptor and returns all problems, in the
// order of the reference provisioner's rules where it had them. Rules whose inputs are missing
// (already reported by Decode) are skipped rather than reported twice.
func Validate(d *Descriptor) Problems {
	ps, dropped := validate(d)
	return withMore(ps, dropped)
}

// validate is Validate, keeping at most MaxProblems problems and counting the others.
func validate(d *Descriptor) (Problems, int) {
	v := &validator{d: d}
	s := d.Component.Specific

	v.jobName()
	for _, rule := range kinds[s.Kind].rules {
		rule(v)
	}
	v.artifacts()
	if jc := s.JobConfig; jc != nil {
		v.positive(jc.DriverCores, "driverCores", DriverCoresInvalid)
		v.memory(jc.DriverMemory, "driverMemory", DriverMemoryInvalid)
		v.positive(jc.ExecutorCores, "executorCores", ExecutorCoresInvalid)
		v.memory(jc.ExecutorMemory, "executorMemory", ExecutorMemoryInvalid)
		v.positive(jc.NumExecutors, "numExecutors", NumExecutorsInvalid)
		v.logLevel(jc.LogLevel)
		v.conf(jc.Conf)
		v.schedule(jc.Schedule)
	}
	return v.problems, v.dropped
}

type validator struct {
	d        *Descriptor
	problems Problems
	dropped  int // problems past MaxProblems, counted but not kept
}

// add records a problem at a field relative to the component, with its YAML position if known.
func (v *validator) add(p Problem) {
	if len(v.problems) >= MaxProblems {
		v.dropped++
		return
	}
	if pos, ok := v.d.pos[p.Field]; ok && p.Line == 0 {
		p.Line, p.Column = pos.line, pos.column
	}
	v.problems = append(v.problems, p)
}

func (v *validator) jobName() {
	d := v.d
	got := d.Component.Specific.JobName
	if _, err := ParseComponentID(d.ComponentID); err != nil || got == "" || d.DataProduct.Environment == "" {
		return // reported by Decode
	}
	want := ExpectedJobName(d.ComponentID, d.DataProduct.Environment)
	if got != want {
		p := JobNameInvalid.At(d.Path(FieldJobName), fmt.Sprintf("expected %q (component id without %s, then the environment, non-alphanumerics as -), got %q", want, ComponentIDPrefix, got))
		p.Solution = fmt.Sprintf("Set specific.jobName to %q.", want)
		v.add(p)
	}
}

// javaClassName is a fully qualified Java class name: identifiers separated by dots.
var javaClassName = regexp.MustCompile(`^[\p{L}_$][\p{L}\p{N}_$]*(\.[\p{L}_$][\p{L}\p{N}_$]*)*$`)

func (v *validator) className() {
	name := v.d.Component.Specific.ClassName
	field := v.d.Path(FieldClassName)
	switch {
	case strings.TrimSpace(name) == "":
		v.add(ClassNameEmpty.At(field))
	case !javaClassName.MatchString(name):
		v.add(ClassNameInvalid.At(field, strconv.Quote(name)))
	}
}

func (v *validator) pythonVersion() {
	s := v.d.Component.Specific
	if s.PythonVersion != "python2" && s.PythonVersion != "python3" {
		detail := "pythonVersion is missing"
		if s.PythonVersion != "" {
			detail = "got " + strconv.Quote(s.PythonVersion)
		}
		v.add(PythonVersionInvalid.At(v.d.Path(FieldPythonVersion), detail))
	}
}

// pythonEnv checks the requirements file and the mirror of a job with a Python environment.
func (v *validator) pythonEnv() {
	s := v.d.Component.Specific
	field := v.d.Path(FieldRequirementsFile)
	if l, err := ParseS3Location(s.RequirementsFile); err != nil {
		v.add(PythonEnvInvalid.At(field, err.Error()))
	} else if l.Basename() != "requirements.txt" {
		v.add(PythonEnvInvalid.At(field, fmt.Sprintf("the requirements file is named %q", l.Basename())))
	}
	// No mirror (absent, null or blank) means PyPI, as in the reference; a mirror must be a URL.
	if s.PyMirror != nil {
		if mirror := strings.TrimSpace(*s.PyMirror); mirror != "" {
			if u, err := url.Parse(mirror); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				v.add(PyMirrorInvalid.At(v.d.Path(FieldPyMirror), "got "+strconv.Quote(mirror)))
			}
		}
	}
}

// artifacts checks the locations of the files of the main resource (the application file and
// the dependencies; the requirements file is checked with the Python settings), and that the
// files stored side by side there have distinct names.
func (v *validator) artifacts() {
	// field is the artifact's path, built only when it is needed: a list of a hundred thousand
	// dependencies must not cost a hundred thousand paths.
	type named struct {
		field func() string
		base  string
	}
	var stored []named
	v.d.Component.Specific.files(func(f file, index int, loc string) {
		if f.role.InPythonEnv() || (index < 0 && loc == "") { // a missing application file: Decode's
			return
		}
		field := func() string { return v.d.Path(indexed(f.field, index)) }
		l, err := ParseS3Location(loc)
		if err != nil {
			if len(v.problems) >= MaxProblems {
				v.dropped++
				return
			}
			p := roles[f.role].rule.At(field(), err.Error())
			p.Solution = ArtifactLocationSolution
			v.add(p)
			return
		}
		stored = append(stored, named{field, l.Basename()})
	})
	first := map[string]func() string{}
	for _, n := range stored {
		if prev, dup := first[n.base]; dup {
			if len(v.problems) >= MaxProblems {
				v.dropped++
				continue
			}
			v.add(DuplicateArtifactName.At(n.field(), fmt.Sprintf("%q is also the file name of %s", n.base, prev())))
			continue
		}
		first[n.base] = n.field
	}
}

// ArtifactLocationSolution is the solution of a malformed artifact location.
const ArtifactLocationSolution = "Write the location as s3://<bucket>/<path>/<file>, e.g. s3://artifacts/finance/cashflow/0.0.0/app.jar."

func (v *validator) positive(n *int, key string, rule Rule) {
	if n != nil && *n <= 0 {
		v.add(rule.At(v.d.Path(FieldJobConfig+"."+key), "got "+strconv.Itoa(*n)))
	}
}

var memoryPattern = regexp.MustCompile(`^[0-9]{1,6}g$`)

func (v *validator) memory(m *string, key string, rule Rule) {
	if m == nil {
		return
	}
	if !memoryPattern.MatchString(*m) || strings.TrimLeft(strings.TrimSuffix(*m, "g"), "0") == "" {
		v.add(rule.At(v.d.Path(FieldJobConfig+"."+key), "got "+strconv.Quote(*m)))
	}
}

// SparkLogLevels are the levels Spark's setLogLevel accepts.
var SparkLogLevels = []string{"ALL", "DEBUG", "ERROR", "FATAL", "INFO", "OFF", "TRACE", "WARN"}

func (v *validator) logLevel(l *string) {
	if l == nil {
		return
	}
	for _, ok := range SparkLogLevels {
		if *l == ok {
			return
		}
	}
	v.add(LogLevelInvalid.At(v.d.Path(FieldJobConfig+".logLevel"), "got "+strconv.Quote(*l)))
}

func (v *validator) conf(conf map[string]string) {
	if _, empty := conf[""]; empty {
		v.add(ConfKeyEmpty.At(v.d.Path(FieldJobConfig + ".conf")))
	}
	// Sorted: the rules run inside workflows too (Recheck), where the order of anything must not
	// depend on a map's; workflowcheck cannot see that sorting makes it deterministic.
	keys := slices.Sorted(maps.Keys(conf)) //workflowcheck:ignore
	for _, k := range keys {
		if k != "" && strings.TrimSpace(k) == "" {
			v.add(ConfKeyEmpty.At(v.d.Path(FieldJobConfig+".conf"), "a key is only spaces"))
		}
		if slices.Contains(ReservedConfKeys, k) {
			v.add(ConfKeyReserved.At(v.d.Path(FieldJobConfig+".conf."+k), k))
		}
	}
}

// DateLayout is the layout of schedule dates: yyyy-MM-ddTHH:mm:ssZ, in UTC.
const DateLayout = "2006-01-02T15:04:05Z"

var datePattern = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$`)

func (v *validator) schedule(s *Schedule) {
	if s == nil {
		return
	}
	if s.CronExpression != "" {
		if err := CheckCron(s.CronExpression); err != nil {
			v.add(CronInvalid.At(v.d.Path(FieldSchedule+".cronExpression"), err.Error()))
		}
	}
	start, startOK := v.date(s.StartDate, "startDate")
	end, endOK := v.date(s.EndDate, "endDate")
	if startOK && endOK && !end.After(start) {
		v.add(DateOrderInvalid.At(v.d.Path(FieldSchedule+".endDate"), fmt.Sprintf("%s is not after %s", s.EndDate, s.StartDate)))
	}
}

func (v *validator) date(s, key string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false // reported by Decode
	}
	field := v.d.Path(FieldSchedule + "." + key)
	if !datePattern.MatchString(s) {
		v.add(DateFormatInvalid.At(field, key+" is "+strconv.Quote(s)))
		return time.Time{}, false
	}
	t, err := time.Parse(DateLayout, s)
	if err != nil { // the right shape but not a date, e.g. 2025-02-30
		v.add(DateFormatInvalid.At(field, key+" "+strconv.Quote(s)+" is not a calendar date and time"))
		return time.Time{}, false
	}
	return t, true
}
