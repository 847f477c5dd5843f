package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/witboost-community/cde-spark-provisioner/internal/devserver"
)

// The aims of issue 5 (the ratio's, 0.5 then, lowered to 0.30 by issue 11).
const (
	aimRatio         = 0.30
	aimPeakRSS int64 = 128 << 20
)

// machine describes where the figures were measured.
type machine struct {
	GoVersion string // `go version`
	CPUs      int
	CPUModel  string
	MemTotal  string
	Kernel    string
	Revision  string // git describe of the measured tree
}

func describeMachine(ctx context.Context, moduleDir string) (machine, error) {
	m := machine{CPUs: runtime.NumCPU()}
	out, err := runQuiet(ctx, moduleDir, nil, "go", "version")
	if err != nil {
		return m, err
	}
	m.GoVersion = strings.TrimSpace(out)
	m.CPUModel = procField("/proc/cpuinfo", "model name")
	if kb := procField("/proc/meminfo", "MemTotal"); kb != "" {
		var n int64
		if _, err := fmt.Sscanf(kb, "%d kB", &n); err == nil {
			m.MemTotal = formatBytes(n * 1024)
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = "Linux " + strings.TrimSpace(string(b))
	}
	// The tree that was built: colleagues' uncommitted edits show up as -dirty.
	if out, err := runQuiet(ctx, moduleDir, nil, "git", "describe", "--always", "--dirty", "--abbrev=12"); err == nil {
		m.Revision = strings.TrimSpace(out)
	}
	return m, nil
}

// loadAverage is the first three fields of /proc/loadavg, or "".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// procField returns the value of the first "key : value" line of a /proc file, or "".
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// command is how the run was started, for the report.
func (c config) command() string {
	goRun := strings.TrimSpace("go run ./cmd/bench " + strings.Join(withoutVia(c.args), " "))
	if c.via != "" {
		return fmt.Sprintf("`%s` (runs `%s`)", c.via, goRun)
	}
	return "`" + goRun + "`"
}

// withoutVia drops the -via flag (and its value) from the arguments.
func withoutVia(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-via" || a == "--via":
			i++
		case strings.HasPrefix(a, "-via=") || strings.HasPrefix(a, "--via="):
		default:
			out = append(out, a)
		}
	}
	return out
}

// verdicts compare each figure with its aim; they say by how much an aim is missed.
func ratioVerdict(ratio float64) string {
	if ratio <= aimRatio {
		return "met"
	}
	return fmt.Sprintf("missed by %.2f (%.0f%% above the aim)", ratio-aimRatio, (ratio/aimRatio-1)*100)
}

func memoryVerdict(peak int64) string {
	if peak < aimPeakRSS {
		return "met"
	}
	return fmt.Sprintf("missed by %s", formatBytes(peak-aimPeakRSS))
}

func redeployVerdict(bytes, first int64) string {
	if bytes == 0 {
		return "met"
	}
	v := fmt.Sprintf("missed by %s", formatBytes(bytes))
	if first > 0 {
		v += fmt.Sprintf(" (%.0f%% of the first deploy's %s)", float64(bytes)/float64(first)*100, formatBytes(first))
	}
	return v
}

// fig1Label names the figure-1 job.
func (r results) fig1Label() string {
	return fmt.Sprintf("%s jar + %d deps × %s, +%s per CDE call", formatBytes(r.cfg.jarSize), r.cfg.deps, formatBytes(r.cfg.depSize), r.cfg.latency)
}

// row is one line of the results: a figure, its measured value, its aim and verdict, and the
// load average after the figure.
type row struct{ figure, measured, aim, verdict, load string }

// rows are the results of the figures run, and a "skipped" line for the others; bold marks the
// figures compared with an aim (markdown only).
func (r results) rows(bold func(string) string) []row {
	var out []row
	skipped := func(n int, what string) {
		out = append(out, row{fmt.Sprintf("%d. %s", n, what), "skipped (-figures)", "", "", ""})
	}
	if r.cfg.figures.has(1) {
		out = append(out,
			row{fmt.Sprintf("1. provision wall time (%s), provisioner: median of %d", r.fig1Label(), len(r.provisioner)), formatSeconds(r.provMedian), "", "", ""},
			row{fmt.Sprintf("1. the same calls by a plain sequential client: median of %d", len(r.sequential)), formatSeconds(r.seqMedian), "", "", ""},
			row{"1. " + bold("ratio provisioner / sequential"), bold(fmt.Sprintf("%.2f", r.ratio)), fmt.Sprintf("≤ %.2f", aimRatio), ratioVerdict(r.ratio), r.load[1]})
	} else {
		skipped(1, "provision wall time")
	}
	if r.cfg.figures.has(2) {
		out = append(out, row{fmt.Sprintf("2. %s (VmHWM) provisioning a %s jar", bold("worker peak RSS"), formatBytes(r.cfg.bigJarSize)), bold(formatBytes(r.peakHWM)), "< " + formatBytes(aimPeakRSS), memoryVerdict(r.peakHWM), r.load[2]})
	} else {
		skipped(2, "worker peak RSS")
	}
	if r.cfg.figures.has(3) {
		out = append(out, row{"3. " + bold("bytes uploaded on an unchanged redeploy"), bold(fmt.Sprintf("%d B", r.redeployBytes)), "0 B", redeployVerdict(r.redeployBytes, r.firstDeployBytes), r.load[3]})
	} else {
		skipped(3, "unchanged redeploy")
	}
	if r.cfg.figures.has(4) {
		slower := r.faultedMedian - r.faultFreeMedian
		out = append(out,
			row{fmt.Sprintf("4. provision, fault-free: median of %d", len(r.faultFree)), formatSeconds(r.faultFreeMedian), "", "", ""},
			row{fmt.Sprintf("4. the same with the first %d answers of every Cloudera route 503: median of %d", faultsPerRoute, len(r.faulted)), formatSeconds(r.faultedMedian), "", "", ""},
			row{"4. " + bold("slower with faults"), bold(formatSeconds(slower)), "≤ " + formatSeconds(aimFaultsSlower), durationVerdict(slower, aimFaultsSlower), r.load[4]})
	} else {
		skipped(4, "faults")
	}
	if r.cfg.figures.has(5) {
		out = append(out,
			row{fmt.Sprintf("5. burst of %d provisions at once, POST to COMPLETED: p50", r.cfg.burst), formatSeconds(r.burstP50), "", "", ""},
			row{fmt.Sprintf("5. %s (%d completed, %d failed)", bold("burst p99"), len(r.burst), r.burstFailed), bold(formatSeconds(r.burstP99)), "≤ " + formatSeconds(aimBurstP99), burstVerdict(r.burstP99, r.burstFailed), r.load[5]})
	} else {
		skipped(5, "burst")
	}
	if r.cfg.figures.has(6) {
		out = append(out,
			row{fmt.Sprintf("6. /v1/validate p50 of %d", len(r.validations)), formatMillis(r.validateP50), "", "", ""},
			row{fmt.Sprintf("6. Temporal floor (one local activity) p50 of %d", len(r.floor)), formatMillis(r.floorP50), "", "", ""},
			row{"6. " + bold("ratio validate / floor"), bold(fmt.Sprintf("%.2f", r.validateRatio)), fmt.Sprintf("≤ %.1f", aimValidateRatio), validateVerdict(r.validateRatio), r.load[6]})
	} else {
		skipped(6, "validate latency")
	}
	if r.cfg.figures.has(7) {
		wt, wtOf, wa, waOf := worstDecode(r.decodes)
		out = append(out,
			row{fmt.Sprintf("7. %s of a %s descriptor (%s)", bold("worst decode time"), formatBytes(decodeSize), wtOf), bold(formatMillis(wt)), "≤ " + formatMillis(aimDecodeTime), durationVerdict(wt, aimDecodeTime), r.load[7]},
			row{fmt.Sprintf("7. %s of a %s descriptor (%s)", bold("worst decode allocation"), formatBytes(decodeSize), waOf), bold(formatBytes(wa)), "≤ " + formatBytes(aimDecodeAlloc), bytesVerdict(wa, aimDecodeAlloc), r.load[7]})
	} else {
		skipped(7, "decode")
	}
	return out
}

func durationVerdict(got, aim time.Duration) string {
	if got <= aim {
		return "met"
	}
	if aim < time.Second {
		return "missed by " + formatMillis(got-aim)
	}
	return "missed by " + formatSeconds(got-aim)
}

func bytesVerdict(got, aim int64) string {
	if got <= aim {
		return "met"
	}
	return fmt.Sprintf("missed by %s", formatBytes(got-aim))
}

func validateVerdict(ratio float64) string {
	if ratio <= aimValidateRatio {
		return "met"
	}
	return fmt.Sprintf("missed by %.2f", ratio-aimValidateRatio)
}

// renderTable is the summary printed at the end of a run.
func renderTable(r results) string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "figure\tmeasured\taim\tverdict\tload after\n")
	for _, rw := range r.rows(func(s string) string { return s }) {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", rw.figure, rw.measured, rw.aim, rw.verdict, rw.load)
	}
	w.Flush()
	if r.cfg.figures.has(1) {
		fmt.Fprintf(&b, "\nfigure 1 job: %s; uploads in flight at once: provisioner %d, sequential %d\n", r.fig1Label(), r.provMaxUploads, r.seqMaxUploads)
	}
	if r.cfg.figures.has(5) && r.burstFailed > 0 {
		fmt.Fprintf(&b, "figure 5: first failure: %s\n", truncate([]byte(r.burstErr), 500))
	}
	return b.String()
}

func durations(ds []time.Duration) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = fmt.Sprintf("%.3f", d.Seconds())
	}
	return strings.Join(s, ", ")
}

// notesMarker separates the generated part of BENCHMARKS.md from the notes kept across runs.
const notesMarker = "<!-- bench:notes — everything below this line is kept by `make bench`; the part above is regenerated -->"

// renderMarkdown is the generated part of BENCHMARKS.md.
func renderMarkdown(r results) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	m := r.machine
	p("# Benchmarks\n\n")
	p("Figures of issue 5 (item 6) and issue 11 (figures 4–7), measured by the harness in `cmd/bench/` against the CDE simulator and the local S3.\n")
	p("This part of the file is written by the harness; the Notes at the end are kept between runs.\n\n")
	p("## Where and how\n\n")
	p("| | |\n|---|---|\n")
	p("| date | %s |\n", r.started.Format("2006-01-02 15:04 MST"))
	p("| command | %s |\n", r.cfg.command())
	p("| `go version` | %s |\n", m.GoVersion)
	p("| CPUs | %d (%s) |\n", m.CPUs, orUnknown(m.CPUModel))
	p("| memory, kernel | %s, %s |\n", orUnknown(m.MemTotal), orUnknown(m.Kernel))
	p("| code measured | `%s` |\n", orUnknown(m.Revision))
	if r.cfg.untunedServer {
		p("| Temporal dev server | its own defaults (`-untuned-server`): not the local stack's tuning (`internal/devserver`) |\n")
	} else {
		p("| Temporal dev server | the local stack's tuning (`internal/devserver`): `%s` |\n", strings.Join(devserver.Tuning, " "))
	}
	if len(r.cfg.workerEnv) > 0 {
		p("| worker settings changed | `%s` (the figures are not those of the defaults) |\n", r.cfg.workerEnv.String())
	}
	p("| load average (1, 5, 15 min) at start → end | %s → %s (other work on the machine slows both sides, the provisioner's Temporal round trips most) |\n", orUnknown(r.loadStart), orUnknown(r.loadEnd))
	p("| whole run | %s |\n\n", r.total.Round(time.Second))

	p("## Results\n\n")
	p("| figure | measured | aim | verdict | load average after (1, 5, 15 min) |\n|---|---|---|---|---|\n")
	for _, rw := range r.rows(func(s string) string { return "**" + s + "**" }) {
		p("| %s | %s | %s | %s | %s |\n", rw.figure, rw.measured, rw.aim, rw.verdict, rw.load)
	}
	p("\n")

	if r.cfg.figures.has(1) {
		p("### 1. Provision wall time\n\n")
		p("- Job: a Spark jar job, %s jar and %d dependencies of %s each (%s in all), in a new component (so a new job and resource) on every run.\n",
			formatBytes(r.cfg.jarSize), r.cfg.deps, formatBytes(r.cfg.depSize), formatBytes(r.fig1Bytes))
		p("- Added latency: %s on every request to the simulator's CDP control plane (`/api/**`), Knox (`/gateway/**`) and jobs API (`/dex/**`), i.e. every Cloudera call; S3 has none.\n", r.cfg.latency)
		p("- Provisioner, seconds per run: %s. Timed from sending `POST /v1/provision` to receiving its 200 `COMPLETED` answer (`SYNC_TIMEOUT=10m`%s).\n", durations(r.provisioner), pollNote(r.polled))
		p("- Sequential client, seconds per run: %s. Timed from its first CDP call to the answer of its last call.\n", durations(r.sequential))
		p("- Cloudera calls per run (last run): provisioner %s; sequential %s.\n", r.provCalls, r.seqCalls)
		p("- Time with at least one Cloudera call in flight (median, from the simulator's request log): provisioner %s of its %s, sequential %s of its %s; the rest is time between calls (Temporal scheduling, the worker, S3 reads).\n",
			formatSeconds(r.provBusy), formatSeconds(r.provMedian), formatSeconds(r.seqBusy), formatSeconds(r.seqMedian))
		p("- Rounds of Cloudera calls made one after the other (overlapping calls count as one round; last run): provisioner %d, sequential %d. At %s added per call, that is at least %s and %s of latency that no concurrency hides.\n",
			r.provRounds, r.seqRounds, r.cfg.latency, formatSeconds(time.Duration(r.provRounds)*r.cfg.latency), formatSeconds(time.Duration(r.seqRounds)*r.cfg.latency))
		p("- Most uploads in flight at once (from the simulator's request log): provisioner %d, sequential %d.\n", r.provMaxUploads, r.seqMaxUploads)
		p("- Order: one warm-up of each side (not counted: first connections, Knox token), then the runs alternate provisioner, sequential.\n")
		p("- The sequential client's calls, in order: %s.\n\n", strings.Join(r.seqSteps, " → "))

	}
	if r.cfg.figures.has(2) {
		p("### 2. Worker peak memory\n\n")
		p("- A job whose jar is a %s object (deterministic pseudo-random bytes streamed into the local S3 in %s); the simulator keeps only the digest of uploads (`DigestOnlyUploads`) and received %s for the job.\n",
			formatBytes(r.cfg.bigJarSize), r.bigJarPutElapsed.Round(100*time.Millisecond), formatBytes(r.bigJarUploaded))
		if r.hwmReset {
			p("- VmHWM of the worker process (`/proc/<pid>/status`) read after the COMPLETED answer, having been reset to the current RSS (`echo 5 > /proc/<pid>/clear_refs`) just before the POST: the peak during this provision only.\n")
		} else {
			p("- VmHWM of the worker process read after the COMPLETED answer. Resetting it before the provision failed (%s), so it is the peak of the worker's whole life, figures 1 and 3 included: an upper bound.\n", r.hwmResetErr)
		}
		p("- Worker VmRSS once started, before any provision: %s; just before this one: %s. Largest VmRSS in %d samples taken every 20 ms during the provision: %s.\n", formatBytes(r.readyRSS), formatBytes(r.baselineRSS), r.rssSamples, formatBytes(r.sampledMaxRSS))
		p("- Provision wall time of that job (no added latency): %s.\n\n", formatSeconds(r.bigJarTime))

	}
	if r.cfg.figures.has(3) {
		p("### 3. Unchanged redeploy\n\n")
		p("- The figure-1 job (%s of artifacts) in a new component, provisioned once (the simulator received %s of file content), then the identical request again; the API runs with `REQUEST_DEDUPE_WINDOW=0`, so the second request is a real run, not the first one's answer.\n",
			formatBytes(r.fig1Bytes), formatBytes(r.firstDeployBytes))
		p("- Bytes counted by the simulator's upload handler (`cdesim.Sim.UploadedBytes`, file content only, no multipart framing) during the second provision: %d. Its Cloudera calls: %s; wall time %s (no added latency).\n\n",
			r.redeployBytes, r.redeployCalls, formatSeconds(r.redeployTime))

	}
	renderNewFigures(r, p)

	p("## Setup\n\n")
	p("Everything on 127.0.0.1: the pinned Temporal dev server (`tools/temporal`, SQLite file in a temporary directory), the real `cmd/worker` and `cmd/api` built with `go build` and started as child processes configured only through the environment (the worker trusts the simulator's CA through `SSL_CERT_FILE`), and, in the harness process, the CDE simulator (`cde/cdesim`, demo seed; `DigestOnlyUploads` with `KeepUploadsUpTo` 1 MiB, so that it keeps only the digest of big artifacts but the whole of small files such as the provisioner's upload manifest, which the worker reads back) and the local S3 (`internal/s3local`). The sequential client runs in the harness process too. On a machine with few CPUs all of these share them, so the figures are those of one loaded machine, not of a deployment.\n\n")
	return b.String()
}

func pollNote(polled bool) string {
	if polled {
		return "; some answers came as 202 and were polled every 50 ms, which adds up to 50 ms to those runs"
	}
	return "; every answer was synchronous"
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// defaultNotes starts the Notes section of a new BENCHMARKS.md.
const defaultNotes = "\n## Notes\n\n(Analysis of the figures: kept across runs, update it when they change.)\n"

// writeReport writes generated, then the marker, then whatever followed the marker in the
// existing file (the hand-written notes), or a fresh Notes section.
func writeReport(path, generated string) error {
	notes := defaultNotes
	if old, err := os.ReadFile(path); err == nil {
		if _, after, ok := strings.Cut(string(old), notesMarker); ok {
			notes = after
		}
	} else if !os.IsNotExist(err) {
		return err
	}
	content := strings.TrimRight(generated, "\n") + "\n\n" + notesMarker + notes
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
