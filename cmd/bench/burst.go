package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/witboost-community/cde-spark-provisioner/cde/cdesim"
	"github.com/witboost-community/cde-spark-provisioner/descriptor"
)

// The aims of issue 11 for figures 5 and 6.
const (
	aimBurstP99             = 10 * time.Second
	aimValidateRatio        = 2.0
	smallArtifactSize int64 = 4 << 10 // the jar of figures 5 and 6
)

// measureBurst is figure 5: cfg.burst provisions of distinct components, all POSTed at once,
// each timed from its POST to its COMPLETED answer (the 202 token followed on the status
// endpoint should the API's synchronous wait be outlasted).
func measureBurst(ctx context.Context, st *stack, cfg config, res *results, progress func(string, ...any)) error {
	set, err := putArtifacts(ctx, st.s3, "bench/burst", smallArtifactSize, 0, 0)
	if err != nil {
		return err
	}
	yamls := make([]string, cfg.burst)
	for i := range yamls {
		if yamls[i], err = set.job(fmt.Sprintf("burst-%04d", i+1)).descriptorYAML(cdesim.DemoService, cdesim.DemoVC); err != nil {
			return err
		}
	}
	progress("figure 5: warm-up provision (not counted)")
	warm, err := set.job("burst-warmup").descriptorYAML(cdesim.DemoService, cdesim.DemoVC)
	if err != nil {
		return err
	}
	if _, _, err := st.api.provision(ctx, warm); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	progress("figure 5: %d provisions at once", cfg.burst)
	// Enough idle connections that the burst does not close and reopen them.
	api := apiClient{base: st.api.base, http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: cfg.burst}}}
	type outcome struct {
		d      time.Duration
		polled bool
		err    error
	}
	outs := make([]outcome, cfg.burst)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range yamls {
		wg.Go(func() {
			<-start
			d, polled, err := api.provision(ctx, yamls[i])
			outs[i] = outcome{d, polled, err}
		})
	}
	began := time.Now()
	close(start)
	wg.Wait()
	res.burstWall = time.Since(began)
	res.burst, res.burstFailed, res.burstPolled, res.burstErr = nil, 0, 0, ""
	for i, o := range outs {
		if o.polled {
			res.burstPolled++
		}
		if o.err != nil {
			res.burstFailed++
			if res.burstErr == "" {
				res.burstErr = fmt.Sprintf("burst-%04d: %v", i+1, o.err)
			}
			continue
		}
		res.burst = append(res.burst, o.d)
	}
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	if len(res.burst) == 0 {
		return fmt.Errorf("every provision of the burst failed; the first: %s", res.burstErr)
	}
	res.burstP50, _ = percentile(res.burst, 50)
	res.burstP99, _ = percentile(res.burst, 99)
	return nil
}

// burstVerdict: every provision must complete, and the p99 be within the aim.
func burstVerdict(p99 time.Duration, failed int) string {
	var v string
	if p99 <= aimBurstP99 {
		v = "met"
	} else {
		v = fmt.Sprintf("missed by %s", formatSeconds(p99-aimBurstP99))
	}
	if failed > 0 {
		v = fmt.Sprintf("missed: %d provision(s) failed", failed)
		if p99 > aimBurstP99 {
			v += fmt.Sprintf(", and p99 by %s", formatSeconds(p99-aimBurstP99))
		}
	}
	return v
}

// floorTaskQueue is the harness's own task queue for the Temporal floor of figure 6.
const floorTaskQueue = "cde-bench-floor"

// floorWorkflow is the least a workflow does: one local activity.
func floorWorkflow(ctx workflow.Context) (string, error) {
	ctx = workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{ScheduleToCloseTimeout: 30 * time.Second})
	var out string
	err := workflow.ExecuteLocalActivity(ctx, floorActivity).Get(ctx, &out)
	return out, err
}

func floorActivity(context.Context) (string, error) { return "ok", nil }

// measureValidate is figure 6: cfg.validations sequential POST /v1/validate of a valid
// descriptor (a new component each, small artifacts that exist), and as many runs of
// floorWorkflow, from ExecuteWorkflow to Get, by a worker of this process on the same dev server;
// after one warm-up each. The ratio of their p50 is the figure.
func measureValidate(ctx context.Context, st *stack, cfg config, res *results, progress func(string, ...any)) error {
	set, err := putArtifacts(ctx, st.s3, "bench/validate", smallArtifactSize, 0, 0)
	if err != nil {
		return err
	}
	w := worker.New(st.tc, floorTaskQueue, worker.Options{})
	w.RegisterWorkflowWithOptions(floorWorkflow, workflow.RegisterOptions{Name: "BenchFloor"})
	w.RegisterActivity(floorActivity)
	if err := w.Start(); err != nil {
		return fmt.Errorf("start the floor worker: %w", err)
	}
	defer w.Stop()

	validateOnce := func(component string) (time.Duration, error) {
		yaml, err := set.job(component).descriptorYAML(cdesim.DemoService, cdesim.DemoVC)
		if err != nil {
			return 0, err
		}
		body, err := json.Marshal(descriptor.Request{DescriptorKind: descriptor.ComponentDescriptor, Descriptor: yaml})
		if err != nil {
			return 0, err
		}
		start := time.Now()
		status, resp, err := st.api.do(ctx, http.MethodPost, "/v1/validate", body)
		d := time.Since(start)
		if err != nil {
			return 0, err
		}
		var ans struct {
			Valid bool `json:"valid"`
		}
		if status != http.StatusOK || json.Unmarshal(resp, &ans) != nil || !ans.Valid {
			return 0, fmt.Errorf("validate %s: HTTP %d: %s (want 200 and valid: a refused descriptor would not measure the workflow)", component, status, truncate(resp, 1000))
		}
		return d, nil
	}
	n := 0
	floorOnce := func() (time.Duration, error) {
		n++
		start := time.Now()
		run, err := st.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: fmt.Sprintf("bench-floor-%d-%d", start.UnixNano(), n), TaskQueue: floorTaskQueue,
			WorkflowExecutionTimeout: time.Minute,
		}, "BenchFloor")
		if err != nil {
			return 0, err
		}
		var out string
		if err := run.Get(ctx, &out); err != nil {
			return 0, err
		}
		return time.Since(start), nil
	}

	progress("figure 6: warm-up (one validation, one floor workflow; not counted)")
	if _, err := validateOnce("validate-warmup"); err != nil {
		return err
	}
	if _, err := floorOnce(); err != nil {
		return fmt.Errorf("floor workflow: %w", err)
	}
	res.validations, res.floor = nil, nil
	// Alternating, so that a change of the machine's load falls on both.
	for i := 1; i <= cfg.validations; i++ {
		d, err := validateOnce(fmt.Sprintf("validate-%03d", i))
		if err != nil {
			return err
		}
		f, err := floorOnce()
		if err != nil {
			return fmt.Errorf("floor workflow: %w", err)
		}
		res.validations, res.floor = append(res.validations, d), append(res.floor, f)
	}
	res.validateP50, _ = percentile(res.validations, 50)
	res.floorP50, _ = percentile(res.floor, 50)
	res.validateRatio = res.validateP50.Seconds() / res.floorP50.Seconds()
	progress("figure 6: /v1/validate p50 %s, floor p50 %s, ratio %.2f", formatMillis(res.validateP50), formatMillis(res.floorP50), res.validateRatio)
	return nil
}
