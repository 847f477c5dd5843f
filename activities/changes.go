package activities

import (
	"slices"
	"strconv"
	"strings"

	"github.com/witboost-community/cde-spark-provisioner/cde"
)

// JobFieldChange is one field of a job that an update changed, as CDE reported it before and
// after. A Spark conf value whose key names a secret (SecretConfKey) is never carried: Old and New
// are then MaskedValue (or Unset), since JobInfo ends up in workflow history and in the logs.
type JobFieldChange struct {
	Field  string `json:"field"`
	Old    string `json:"old"`
	New    string `json:"new"`
	Masked bool   `json:"masked,omitempty"`
}

// Values shown in place of a value in a JobFieldChange.
const (
	Unset       = "(unset)"
	MaskedValue = "(masked)"
)

// secretWords are the parts of a conf key's name that say its value is a secret.
var secretWords = []string{"password", "passwd", "secret", "token", "credential"}

// SecretConfKey says whether a Spark conf key's value is a secret, never to be shown: its name
// (case-insensitive) contains password, passwd, secret, token or credential, or one of its parts
// split at '.', '_' or '-' ends with "key" (key, apikey, accesskey, privateKey, ...), as in
// spark.hadoop.fs.s3a.access.key or fs.azure.account.key.<account>.dfs.core.windows.net.
func SecretConfKey(key string) bool {
	k := strings.ToLower(key)
	for _, w := range secretWords {
		if strings.Contains(k, w) {
			return true
		}
	}
	for part := range strings.FieldsFuncSeq(k, func(r rune) bool { return r == '.' || r == '_' || r == '-' }) {
		if strings.HasSuffix(part, "key") {
			return true
		}
	}
	return false
}

// JobChanges lists the fields the provisioner sets (BuildJob) that differ between the job before
// and after an update, in a fixed order: the job's own fields, the spark fields, each conf key
// (sorted), then the schedule. Either side nil (a job created, or one not read before) gives none.
func JobChanges(before, after *cde.Job) []JobFieldChange {
	if before == nil || after == nil {
		return nil
	}
	var out []JobFieldChange
	add := func(field, old, new string) {
		if old != new {
			out = append(out, JobFieldChange{Field: field, Old: old, New: new})
		}
	}
	add("mounts", mountsText(before.Mounts), mountsText(after.Mounts))
	bs, as := sparkOf(before), sparkOf(after)
	add("spark.file", text(bs.File), text(as.File))
	add("spark.className", text(bs.ClassName), text(as.ClassName))
	if !slices.Equal(bs.Args, as.Args) {
		// Compared as they are, shown masked: a change of a secret value alone is still one.
		old, new := listText(MaskArgs(bs.Args)), listText(MaskArgs(as.Args))
		out = append(out, JobFieldChange{Field: "spark.args", Old: old, New: new,
			Masked: old != listText(bs.Args) || new != listText(as.Args)})
	}
	add("spark.driverCores", intText(bs.DriverCores), intText(as.DriverCores))
	add("spark.driverMemory", text(bs.DriverMemory), text(as.DriverMemory))
	add("spark.executorCores", intText(bs.ExecutorCores), intText(as.ExecutorCores))
	add("spark.executorMemory", text(bs.ExecutorMemory), text(as.ExecutorMemory))
	add("spark.numExecutors", intText(bs.NumExecutors), intText(as.NumExecutors))
	add("spark.logLevel", text(bs.LogLevel), text(as.LogLevel))
	add("spark.jars", listText(bs.Jars), listText(as.Jars))
	add("spark.pyFiles", listText(bs.PyFiles), listText(as.PyFiles))
	add("spark.pythonEnvResourceName", text(bs.PythonEnvResourceName), text(as.PythonEnvResourceName))
	out = append(out, confChanges(bs.Conf, as.Conf)...)
	bsc, asc := scheduleOf(before), scheduleOf(after)
	add("schedule.enabled", strconv.FormatBool(bsc.Enabled), strconv.FormatBool(asc.Enabled))
	add("schedule.cronExpression", text(bsc.CronExpression), text(asc.CronExpression))
	add("schedule.start", text(bsc.Start), text(asc.Start))
	add("schedule.end", text(bsc.End), text(asc.End))
	return out
}

// confChanges are the conf keys added, removed or changed, sorted by key, secrets masked.
func confChanges(before, after map[string]string) []JobFieldChange {
	keys := make([]string, 0, len(before)+len(after))
	for k := range before {
		keys = append(keys, k)
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var out []JobFieldChange
	for _, k := range keys {
		old, hadOld := before[k]
		new, hasNew := after[k]
		if hadOld == hasNew && old == new {
			continue
		}
		c := JobFieldChange{Field: "spark.conf." + k, Old: confText(old, hadOld), New: confText(new, hasNew)}
		if SecretConfKey(k) {
			c.Masked = true
			c.Old, c.New = masked(hadOld), masked(hasNew)
		}
		out = append(out, c)
	}
	return out
}

func masked(set bool) string {
	if set {
		return MaskedValue
	}
	return Unset
}

func confText(v string, set bool) string {
	if !set {
		return Unset
	}
	return strconv.Quote(v)
}

func sparkOf(j *cde.Job) cde.SparkJob {
	if j.Spark == nil {
		return cde.SparkJob{}
	}
	return *j.Spark
}

func scheduleOf(j *cde.Job) cde.Schedule {
	if j.Schedule == nil {
		return cde.Schedule{}
	}
	return *j.Schedule
}

func text(s string) string {
	if s == "" {
		return Unset
	}
	return s
}

func intText(n int) string {
	if n == 0 {
		return Unset
	}
	return strconv.Itoa(n)
}

func listText(ss []string) string { return "[" + strings.Join(ss, ", ") + "]" }

// MaskArgs hides the values that job arguments give to secret-looking options (SecretConfKey on
// the option's name): the value of --password=…, and the argument after --password or
// -Dspark.token. A changed secret argument still shows as a change, (masked) on both sides.
func MaskArgs(args []string) []string {
	if len(args) == 0 {
		return args
	}
	out := make([]string, len(args))
	maskNext := false
	for i, arg := range args {
		switch {
		case maskNext:
			out[i], maskNext = MaskedValue, false
			continue
		case !strings.HasPrefix(arg, "-"):
			out[i] = arg
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		name = strings.TrimPrefix(name, "D") // -Dkey=value, Java's system properties
		switch {
		case !SecretConfKey(name):
			out[i] = arg
		case hasValue:
			out[i] = arg[:strings.IndexByte(arg, '=')+1] + MaskedValue
		default:
			out[i], maskNext = arg, true
		}
	}
	return out
}

func mountsText(ms []cde.Mount) string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = m.ResourceName
		if m.DirPrefix != "" {
			parts[i] += ":" + m.DirPrefix
		}
	}
	return listText(parts)
}

// String is the one-line form of a change, for the logs: "spark.driverMemory: 1g → 2g".
func (c JobFieldChange) String() string { return c.Field + ": " + c.Old + " → " + c.New }
