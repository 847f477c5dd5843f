package main

import (
	"fmt"
	"strings"
	"time"
)

// renderNewFigures is the detail of figures 4 to 7 in BENCHMARKS.md.
func renderNewFigures(r results, p func(string, ...any)) {
	figs := r.cfg.figures
	if figs.has(4) {
		p("### 4. Faults\n\n")
		p("- Job: a Spark jar job, %s jar and %d dependencies of %s, in a new component on every run; no added latency. After a warm-up (not counted), %d pairs: a fault-free provision, then one with faults.\n",
			formatBytes(faultJarSize), faultDeps, formatBytes(faultDepSize), r.cfg.faultRuns)
		p("- Faults: the first %d answers of every route are 503 (the simulator's CDP or jobs-API error body, no Retry-After). A route is a distinct path: `cdesim.FailNext` counts a glob's failures over every path it matches, so the harness adds one rule per path, the path with its glob characters escaped, for the paths the fault-free provision before it called (its request log, job and resource names mapped to the faulted component's), plus the Knox token path, which a provision calls only when the worker's token has expired.\n", faultsPerRoute)
		p("- Fault-free, seconds per run: %s. With faults: %s. Timed from `POST /v1/provision` to its `COMPLETED` answer.\n", durations(r.faultFree), durations(r.faulted))
		p("- Last run, from the simulator's request log: %d routes with a rule, %d of them called with their first %d answers the injected 503s; %d 503s answered; %d Cloudera calls in all.\n",
			r.faultRoutes, r.faultCovered, faultsPerRoute, r.faultInjected, r.faultCalls)
		if len(r.faultUncovered) > 0 {
			p("- Paths called only with faults, so without a rule (their answers were not faulted): %s.\n", codeList(r.faultUncovered))
		} else {
			p("- Every path the faulted provisions called had a rule.\n")
		}
		if len(r.faultUnused) > 0 {
			p("- Routes with a rule that a faulted provision did not call: %s.\n", codeList(r.faultUnused))
		}
		p("\n")
	}
	if figs.has(5) {
		p("### 5. Burst\n\n")
		p("- %d provisions of distinct components (a %s jar each, no dependencies, no added latency), POSTed at once by as many goroutines after a warm-up provision; each timed from its POST to its `COMPLETED` answer, the 202 token followed on `GET /v1/provision/{token}/status` every 50 ms when the API's synchronous wait (`SYNC_TIMEOUT=10m`) is outlasted (%d were).\n",
			r.cfg.burst, formatBytes(smallArtifactSize), r.burstPolled)
		p("- p50 %s, p99 %s (nearest rank), of the %d that completed; %d failed. First POST to last answer: %s.\n",
			formatSeconds(r.burstP50), formatSeconds(r.burstP99), len(r.burst), r.burstFailed, formatSeconds(r.burstWall))
		if r.burstFailed > 0 {
			p("- First failure: `%s`.\n", strings.ReplaceAll(truncate([]byte(r.burstErr), 500), "`", "'"))
		}
		p("\n")
	}
	if figs.has(6) {
		p("### 6. Validate latency\n\n")
		p("- `/v1/validate`: %d sequential requests of a valid descriptor (a new component each, a %s jar that exists), timed from the POST to its 200 `valid: true` answer; p50 %s. Milliseconds: %s.\n",
			len(r.validations), formatBytes(smallArtifactSize), formatMillis(r.validateP50), millis(r.validations))
		p("- Temporal floor: a workflow with one local activity, run by a worker of the harness process (Go SDK, task queue `%s`) on the same dev server, timed from `ExecuteWorkflow` to `Get`; p50 %s. Milliseconds: %s.\n",
			floorTaskQueue, formatMillis(r.floorP50), millis(r.floor))
		p("- One warm-up of each first (not counted); then the two alternate. Ratio of the p50s (nearest rank): %.2f.\n\n", r.validateRatio)
	}
	if figs.has(7) {
		p("### 7. Decode\n\n")
		p("- `descriptor.Check` in the harness process on generated descriptors of at most %s each; wall time the median of %d calls, allocation the largest `runtime.MemStats.TotalAlloc` delta (after a GC) of them. Measured after the other figures, with the harness otherwise idle. A call that has not returned after %s is abandoned.\n\n",
			formatBytes(decodeSize), decodeReps, decodeAbandon)
		p("| descriptor | size | time | allocated | outcome |\n|---|---|---|---|---|\n")
		for _, d := range r.decodes {
			p("| %s: %s | %d B | %s | %s | %s |\n", d.Name, d.About, d.Size, formatMillis(d.Time), formatBytes(d.Alloc), strings.ReplaceAll(d.Outcome, "|", "\\|"))
		}
		p("\n")
	}
}

func codeList(ss []string) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = "`" + s + "`"
	}
	return strings.Join(out, ", ")
}

func millis(ds []time.Duration) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = fmt.Sprintf("%.1f", float64(d.Microseconds())/1000)
	}
	return strings.Join(s, ", ")
}
