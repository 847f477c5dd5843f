package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/witboost-community/cde-spark-provisioner/cde/cdesim"
	"github.com/witboost-community/cde-spark-provisioner/descriptor"
)

// results holds every figure of a run, and what the report says about how it was obtained.
type results struct {
	cfg     config
	machine machine
	started time.Time
	total   time.Duration
	// loadStart and loadEnd are the machine's load averages before and after the measurements.
	loadStart, loadEnd string

	// Figure 1.
	provisioner, sequential []time.Duration
	provMedian, seqMedian   time.Duration
	ratio                   float64
	polled                  bool      // some provision answered 202 and was polled
	provCalls, seqCalls     callCount // of the last measured run of each side
	provMaxUploads          int       // most uploads in flight at once, over the provisioner's runs
	seqMaxUploads           int
	provBusy, seqBusy       time.Duration // median time with at least one Cloudera call in flight
	provRounds, seqRounds   int           // rounds of calls of the last run (see busySpans)
	seqSteps                []string
	fig1Set                 artifactSet // the figure-1 objects, reused by figure 3
	fig1Bytes               int64       // artifact bytes of the figure-1 job

	// Figure 2.
	bigJarTime       time.Duration
	bigJarUploaded   int64 // bytes the simulator received for the 1 GiB job
	readyRSS         int64 // worker VmRSS once it polled, before any provision
	baselineRSS      int64 // worker VmRSS just before the provision
	peakHWM          int64 // worker VmHWM after the provision (reset just before it)
	hwmReset         bool  // clear_refs reset the peak; else VmHWM covers the worker's life
	hwmResetErr      string
	sampledMaxRSS    int64
	rssSamples       int
	bigJarPutElapsed time.Duration

	// load is the load average after each figure (index: figure number).
	load [figureCount + 1]string

	// Figure 3.
	firstDeployBytes int64
	redeployBytes    int64
	redeployTime     time.Duration
	redeployCalls    callCount

	// Figure 4.
	faultFree, faulted             []time.Duration
	faultFreeMedian, faultedMedian time.Duration
	faultRoutes                    int      // routes given two 503s (last run)
	faultCovered                   int      // of them, called with their first two answers 503 (last run)
	faultInjected                  int      // 503s the simulator answered (last run)
	faultCalls                     int      // Cloudera calls of the faulted provision (last run)
	faultUncovered                 []string // paths called with faults but not without (no rule)
	faultUnused                    []string // routes with a rule the faulted provision did not call

	// Figure 5.
	burst              []time.Duration // of the provisions that completed
	burstP50, burstP99 time.Duration
	burstWall          time.Duration // first POST to last answer
	burstFailed        int
	burstPolled        int
	burstErr           string

	// Figure 6.
	validations, floor    []time.Duration
	validateP50, floorP50 time.Duration
	validateRatio         float64

	// Figure 7.
	decodes []decodeResult
}

// callCount is the simulator's requests of one run, by host.
type callCount struct {
	ControlPlane, Knox, JobsAPI, Uploads int
}

func (c callCount) total() int { return c.ControlPlane + c.Knox + c.JobsAPI }

func (c callCount) String() string {
	return fmt.Sprintf("%d (control plane %d, Knox %d, jobs API %d of which %d uploads)",
		c.total(), c.ControlPlane, c.Knox, c.JobsAPI, c.Uploads)
}

// countCalls sorts the simulator's request log by host.
func countCalls(recs []cdesim.RequestRecord) callCount {
	var c callCount
	for _, r := range recs {
		switch {
		case r.Target == "controlplane":
			c.ControlPlane++
		case strings.HasPrefix(r.Target, "knox:"):
			c.Knox++
		case strings.HasPrefix(r.Target, "vc:"):
			c.JobsAPI++
			if isUpload(r) {
				c.Uploads++
			}
		}
	}
	return c
}

func isUpload(r cdesim.RequestRecord) bool {
	return r.Method == "PUT" && strings.Contains(r.Path, "/resources/")
}

// maxConcurrent is the largest number of the requests matching keep that were in flight at the
// same instant, from their start times and durations in the simulator's log: 1 means the
// uploads ran one after the other, n that n overlapped.
func maxConcurrent(recs []cdesim.RequestRecord, keep func(cdesim.RequestRecord) bool) int {
	type edge struct {
		at    time.Time
		delta int
	}
	var edges []edge
	for _, r := range recs {
		if keep(r) {
			edges = append(edges, edge{r.Time, +1}, edge{r.Time.Add(r.Duration), -1})
		}
	}
	// At equal instants, ends before starts: back-to-back requests do not overlap.
	slices.SortFunc(edges, func(a, b edge) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return a.delta - b.delta
	})
	cur, best := 0, 0
	for _, e := range edges {
		cur += e.delta
		best = max(best, cur)
	}
	return best
}

// busySpans merges the intervals of recs where they overlap and returns the total length of
// the merged spans (how long at least one call was in flight) and their number (the rounds of calls
// made one after the other: calls that overlap count as one round). Next to a run's wall time,
// they show how much of it is Cloudera latency that concurrency could not hide (rounds × the
// added latency) and how much went to everything else (Temporal, the worker, S3).
func busySpans(recs []cdesim.RequestRecord) (busy time.Duration, rounds int) {
	type span struct{ from, to time.Time }
	spans := make([]span, 0, len(recs))
	for _, r := range recs {
		spans = append(spans, span{r.Time, r.Time.Add(r.Duration)})
	}
	slices.SortFunc(spans, func(a, b span) int { return a.from.Compare(b.from) })
	var cur span
	for i, s := range spans {
		switch {
		case i == 0:
			cur = s
		case s.from.After(cur.to):
			busy += cur.to.Sub(cur.from)
			rounds++
			cur = s
		case s.to.After(cur.to):
			cur.to = s.to
		}
	}
	if len(spans) > 0 {
		busy += cur.to.Sub(cur.from)
		rounds++
	}
	return busy, rounds
}

// timeline renders a request log as tab-separated lines (offset from the first request in ms,
// duration in ms, host, method, path, status), for the files -keep leaves behind.
func timeline(recs []cdesim.RequestRecord) string {
	if len(recs) == 0 {
		return ""
	}
	sorted := slices.Clone(recs)
	slices.SortFunc(sorted, func(a, b cdesim.RequestRecord) int { return a.Time.Compare(b.Time) })
	var b strings.Builder
	b.WriteString("start_ms\tduration_ms\ttarget\tmethod\tpath\tstatus\n")
	t0 := sorted[0].Time
	for _, r := range sorted {
		fmt.Fprintf(&b, "%.1f\t%.1f\t%s\t%s\t%s\t%d\n", float64(r.Time.Sub(t0).Microseconds())/1000,
			float64(r.Duration.Microseconds())/1000, r.Target, r.Method, r.Path, r.Status)
	}
	return b.String()
}

// cdeRoutes are the simulator's routes of every call the provisioner makes to Cloudera: the CDP
// control plane (/api/v1/...), Knox (/gateway/...) and the jobs API (/dex/api/v1/...).
func cdeRoutes() []string { return []string{"/api/**", "/gateway/**", "/dex/**"} }

// measureWallTime is figure 1: a warm-up provision and sequential deploy (not counted), then
// runs alternating the provisioner and the sequential client, each on a new component, with the
// latency added to every Cloudera call.
func measureWallTime(ctx context.Context, st *stack, cfg config, res *results, progress func(string, ...any)) error {
	progress("figure 1: storing a %s jar and %d dependencies of %s in the local S3", formatBytes(cfg.jarSize), cfg.deps, formatBytes(cfg.depSize))
	set, err := putArtifacts(ctx, st.s3, "bench/wall", cfg.jarSize, cfg.deps, cfg.depSize)
	if err != nil {
		return err
	}
	res.fig1Set, res.fig1Bytes = set, set.total()
	seq, err := newSequentialClient(sequentialConfig{
		CDPEndpoint: st.sim.ControlPlaneURL(), AccessKeyID: cdesim.DemoAccessKeyID, PrivateKey: cdesim.DemoPrivateKey,
		User: cdesim.DemoUser, Password: cdesim.DemoPassword,
		S3Endpoint: st.s3.URL(), S3Region: "us-east-1", S3AccessKey: "bench", S3SecretKey: "bench",
		HTTP: st.simHTTP,
	})
	if err != nil {
		return err
	}
	for _, route := range cdeRoutes() {
		st.sim.SetLatency(route, cfg.latency)
	}
	defer st.sim.ClearFaults()

	// Each run's request log is summarised in res and written to the temporary directory (kept
	// with -keep) as a timeline, to see where a run's time went.
	observe := func(component string, recs []cdesim.RequestRecord) (callCount, int, time.Duration, int) {
		_ = os.WriteFile(filepath.Join(st.dir, "timeline-"+component+".tsv"), []byte(timeline(recs)), 0o600)
		busy, rounds := busySpans(recs)
		return countCalls(recs), maxConcurrent(recs, isUpload), busy, rounds
	}
	provisionOnce := func(component string) (time.Duration, []cdesim.RequestRecord, error) {
		yaml, err := set.job(component).descriptorYAML(cdesim.DemoService, cdesim.DemoVC)
		if err != nil {
			return 0, nil, err
		}
		st.sim.ResetRequests()
		d, polled, err := st.api.provision(ctx, yaml)
		if err != nil {
			return 0, nil, fmt.Errorf("provision %s: %w", component, err)
		}
		res.polled = res.polled || polled
		return d, st.sim.Requests(), nil
	}
	deployOnce := func(component string) (time.Duration, []cdesim.RequestRecord, error) {
		st.sim.ResetRequests()
		d, err := seq.deploy(ctx, set.job(component), cdesim.DemoService, cdesim.DemoVC)
		if err != nil {
			return 0, nil, fmt.Errorf("sequential deploy %s: %w", component, err)
		}
		return d, st.sim.Requests(), nil
	}

	progress("figure 1: warm-up (one provision, one sequential deploy; not counted)")
	if _, _, err := provisionOnce("warmup-p"); err != nil {
		return err
	}
	if _, _, err := deployOnce("warmup-s"); err != nil {
		return err
	}
	var provBusy, seqBusy []time.Duration
	for i := 1; i <= cfg.runs; i++ {
		name := fmt.Sprintf("wall-p%d", i)
		d, recs, err := provisionOnce(name)
		if err != nil {
			return err
		}
		calls, inFlight, busy, rounds := observe(name, recs)
		res.provisioner, provBusy = append(res.provisioner, d), append(provBusy, busy)
		res.provCalls, res.provMaxUploads, res.provRounds = calls, max(res.provMaxUploads, inFlight), rounds

		name = fmt.Sprintf("wall-s%d", i)
		ds, recs, err := deployOnce(name)
		if err != nil {
			return err
		}
		calls, inFlight, busy, rounds = observe(name, recs)
		res.sequential, seqBusy = append(res.sequential, ds), append(seqBusy, busy)
		res.seqCalls, res.seqMaxUploads, res.seqRounds = calls, max(res.seqMaxUploads, inFlight), rounds
		progress("figure 1: run %d/%d: provisioner %s, sequential %s", i, cfg.runs, formatSeconds(d), formatSeconds(ds))
	}
	if res.provBusy, err = median(provBusy); err != nil {
		return err
	}
	if res.seqBusy, err = median(seqBusy); err != nil {
		return err
	}
	res.seqSteps = slices.Clone(seq.steps)
	if res.provMedian, err = median(res.provisioner); err != nil {
		return err
	}
	if res.seqMedian, err = median(res.sequential); err != nil {
		return err
	}
	res.ratio = res.provMedian.Seconds() / res.seqMedian.Seconds()
	return nil
}

// measureRedeploy is figure 3: provision a new job, then the identical request again (the API
// runs with REQUEST_DEDUPE_WINDOW=0, so the second one is a real run), and count the file bytes
// the simulator received during the second.
func measureRedeploy(ctx context.Context, st *stack, cfg config, res *results, progress func(string, ...any)) error {
	// The figure-1 objects, already in S3 (stored now when figure 1 was skipped): a job of the same size.
	if res.fig1Set.Sizes == nil {
		set, err := putArtifacts(ctx, st.s3, "bench/wall", cfg.jarSize, cfg.deps, cfg.depSize)
		if err != nil {
			return err
		}
		res.fig1Set, res.fig1Bytes = set, set.total()
	}
	yaml, err := res.fig1Set.job("redeploy").descriptorYAML(cdesim.DemoService, cdesim.DemoVC)
	if err != nil {
		return err
	}
	progress("figure 3: first provision of the redeploy job")
	before := st.sim.UploadedBytes("", "")
	if _, _, err := st.api.provision(ctx, yaml); err != nil {
		return fmt.Errorf("first provision: %w", err)
	}
	afterFirst := st.sim.UploadedBytes("", "")
	res.firstDeployBytes = afterFirst - before

	progress("figure 3: identical provision again")
	st.sim.ResetRequests()
	d, _, err := st.api.provision(ctx, yaml)
	if err != nil {
		return fmt.Errorf("second provision: %w", err)
	}
	res.redeployTime = d
	res.redeployBytes = st.sim.UploadedBytes("", "") - afterFirst
	res.redeployCalls = countCalls(st.sim.Requests())
	if res.redeployCalls.JobsAPI == 0 {
		return fmt.Errorf("the second provision made no call to the jobs API: it was answered without running (dedupe window?), so it measures nothing")
	}
	return nil
}

// measurePeakMemory is figure 2: store a jar of cfg.bigJarSize in the local S3 (generated as it
// is streamed), reset the worker's VmHWM, provision a job with that jar, and read VmHWM back.
// The simulator keeps only digests of uploads (DigestOnlyUploads), and it lives in this
// process anyway: only the worker's memory is measured.
func measurePeakMemory(ctx context.Context, st *stack, cfg config, res *results, progress func(string, ...any)) error {
	progress("figure 2: storing a %s jar in the local S3", formatBytes(cfg.bigJarSize))
	putStart := time.Now()
	set, err := putArtifacts(ctx, st.s3, "bench/big", cfg.bigJarSize, 0, 0)
	if err != nil {
		return err
	}
	res.bigJarPutElapsed = time.Since(putStart)
	job := set.job("bigjar")
	yaml, err := job.descriptorYAML(cdesim.DemoService, cdesim.DemoVC)
	if err != nil {
		return err
	}

	pid := st.worker.pid()
	base, err := readProcMemory(pid)
	if err != nil {
		return fmt.Errorf("worker memory: %w", err)
	}
	res.baselineRSS = base.RSS
	if err := resetPeakRSS(pid); err != nil {
		// Still a valid upper bound: the peak of the worker's whole life, figure 1 included.
		res.hwmResetErr = err.Error()
	} else {
		res.hwmReset = true
	}
	progress("figure 2: provisioning the %s jar (worker pid %d, VmRSS now %s)", formatBytes(cfg.bigJarSize), pid, formatBytes(base.RSS))
	sampler := startRSSSampler(ctx, pid, 20*time.Millisecond)
	d, _, provErr := st.api.provision(ctx, yaml)
	maxRSS, samples, sampleErr := sampler.finish()
	if provErr != nil {
		return fmt.Errorf("provision: %w", provErr)
	}
	if sampleErr != nil {
		return fmt.Errorf("sampling the worker's memory: %w", sampleErr)
	}
	after, err := readProcMemory(pid)
	if err != nil {
		return fmt.Errorf("worker memory: %w", err)
	}
	res.bigJarTime, res.peakHWM, res.sampledMaxRSS, res.rssSamples = d, after.HWM, maxRSS, samples

	vcInfo, ok := st.sim.VC(cdesim.DemoService, cdesim.DemoVC)
	if !ok {
		return fmt.Errorf("the simulator has no %s/%s", cdesim.DemoService, cdesim.DemoVC)
	}
	res.bigJarUploaded = st.sim.UploadedBytes(vcInfo.VCID, descriptor.MainResourceName(job.JobName()))
	if res.bigJarUploaded < cfg.bigJarSize {
		return fmt.Errorf("the simulator received %d bytes for the job, less than the %d-byte jar: the figure would not be of a %s upload",
			res.bigJarUploaded, cfg.bigJarSize, formatBytes(cfg.bigJarSize))
	}
	return nil
}
