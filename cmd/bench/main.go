// Command bench is the benchmark harness behind `make bench` (issue 5, item 6). It starts the
// whole provisioner on 127.0.0.1 — the pinned Temporal dev server, the real cmd/worker and
// cmd/api binaries as child processes configured from the environment, and in this process the
// CDE simulator and a local S3 — and measures three figures:
//
//  1. the wall time of a provision of a Spark jar job with 10 dependencies of 8 MiB (and an
//     8 MiB jar), with 50 ms added to every CDP, Knox and jobs-API call, from the HTTP POST to
//     the COMPLETED answer (median of -runs fresh jobs), next to the same calls made one after
//     the other by a plain sequential client in this process, and their ratio;
//  2. the worker's peak resident memory (VmHWM) while it provisions a job with a 1 GiB jar;
//  3. the bytes the simulator receives in uploads when an unchanged job is provisioned again;
//  4. a provision whose every Cloudera route answers 503 twice first, against a fault-free one;
//  5. the p50 and p99 of -burst provisions of distinct components POSTed at once;
//  6. the p50 of /v1/validate against the Temporal floor (a one-local-activity workflow);
//  7. the worst wall time and allocation of descriptor.Check on generated 2 MiB descriptors.
//
// It prints a table and writes BENCHMARKS.md (keeping that file's Notes section). Every child
// process is stopped on exit, on failure and on Ctrl-C, and the temporary directory is removed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// config is the command line.
type config struct {
	runs       int
	deps       int
	depSize    int64
	jarSize    int64
	bigJarSize int64
	latency    time.Duration
	out        string
	timeout    time.Duration
	keep       bool
	via        string
	workerEnv  envList // extra worker variables, for experiments (recorded in the command)
	// untunedServer starts the dev server without devserver.Tuning, to measure what it gives.
	untunedServer bool
	figures       figureSet
	faultRuns     int      // figure 4: pairs of fault-free and faulted provisions
	burst         int      // figure 5: provisions at once
	validations   int      // figure 6: sequential validations (and floor workflows)
	args          []string // as given, for the report
}

// envList is a repeatable NAME=VALUE flag.
type envList []string

func (e *envList) String() string { return strings.Join(*e, " ") }

func (e *envList) Set(v string) error {
	if name, _, ok := strings.Cut(v, "="); !ok || name == "" {
		return fmt.Errorf("%q is not NAME=VALUE", v)
	}
	*e = append(*e, v)
	return nil
}

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.IntVar(&c.runs, "runs", 5, "measured provisions per side for figure 1 (after one warm-up each)")
	fs.IntVar(&c.deps, "deps", 10, "dependencies of the figure-1 job")
	depSize := fs.String("dep-size", "8MiB", "size of each dependency")
	jarSize := fs.String("jar-size", "8MiB", "size of the figure-1 jar")
	bigJar := fs.String("big-jar", "1GiB", "size of the figure-2 jar")
	fs.DurationVar(&c.latency, "latency", 50*time.Millisecond, "latency added to every CDP, Knox and jobs-API call in figure 1")
	fs.StringVar(&c.out, "out", "BENCHMARKS.md", "report file to write (empty: none)")
	fs.DurationVar(&c.timeout, "timeout", 15*time.Minute, "bound of the whole run")
	fs.BoolVar(&c.keep, "keep", false, "keep the temporary directory (logs, binaries) and print its path")
	fs.BoolVar(&c.untunedServer, "untuned-server", false, "start the Temporal dev server with its own defaults instead of the local stack's tuning (internal/devserver: SQLite WAL, eager activities), to measure what the tuning gives")
	fs.Var(&c.workerEnv, "worker-env", "extra NAME=VALUE for the worker's environment, repeatable (e.g. UPLOAD_CONCURRENCY=16); the default measures the defaults")
	figures := fs.String("figures", allFigures().String(), "figures to measure, e.g. 1,2,3 or 4,5,6,7 (figure 7 alone needs no stack)")
	fs.IntVar(&c.faultRuns, "fault-runs", 3, "figure 4: pairs of a fault-free and a faulted provision (median of each)")
	fs.IntVar(&c.burst, "burst", 200, "figure 5: provisions of distinct components POSTed at once")
	fs.IntVar(&c.validations, "validations", 30, "figure 6: sequential /v1/validate requests, and as many floor workflows")
	fs.StringVar(&c.via, "via", "", "how the harness was invoked, for the report (the Makefile passes 'make bench')")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var err error
	if c.figures, err = parseFigures(*figures); err != nil {
		return c, err
	}
	if c.faultRuns < 1 || c.burst < 1 || c.validations < 1 {
		return c, errors.New("-fault-runs, -burst and -validations must be positive")
	}
	if c.depSize, err = parseSize(*depSize); err != nil {
		return c, err
	}
	if c.jarSize, err = parseSize(*jarSize); err != nil {
		return c, err
	}
	if c.bigJarSize, err = parseSize(*bigJar); err != nil {
		return c, err
	}
	if c.runs < 1 || c.deps < 0 || c.jarSize < 1 || c.bigJarSize < 1 || c.latency < 0 || c.timeout <= 0 {
		return c, errors.New("-runs, -jar-size, -big-jar and -timeout must be positive; -deps and -latency not negative")
	}
	c.args = args
	return c, nil
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first Ctrl-C the default handling comes back, so a second one exits at once
		// (the children then die with the harness through Pdeathsig).
		<-ctx.Done()
		stop()
	}()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "\nbench: FAILED:", err)
		os.Exit(1)
	}
}

// run sets up, measures, reports, and always tears down.
func run(parent context.Context, cfg config) (err error) {
	started := time.Now()
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	ctx, cancelTimeout := context.WithTimeoutCause(ctx, cfg.timeout, fmt.Errorf("the whole run exceeded -timeout %s", cfg.timeout))
	defer cancelTimeout()

	progress := func(format string, a ...any) {
		fmt.Printf("[%6.1fs] %s\n", time.Since(started).Seconds(), fmt.Sprintf(format, a...))
	}
	moduleDir, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "cde-bench-")
	if err != nil {
		return err
	}
	procs := &children{}
	var st *stack
	defer func() {
		interrupted := parent.Err() != nil
		var tails strings.Builder
		if err != nil && !interrupted {
			// A child that died explains more than the error it caused elsewhere.
			if exit := procs.firstUnexpectedExit(); exit != nil && !strings.Contains(err.Error(), exit.Error()) {
				err = fmt.Errorf("%w\n%v", err, exit)
			}
			// Read the logs before stopping the children, whose shutdown would bury the cause.
			for _, name := range []string{"worker", "api", "temporal"} {
				p := filepath.Join(dir, name+".log")
				if _, statErr := os.Stat(p); statErr == nil {
					fmt.Fprintf(&tails, "\n--- last lines of %s.log ---\n%s\n", name, tail(p, 15))
				}
			}
		}
		// Stop children first: they hold files in dir and connections to the in-process servers.
		procs.stopAll(stopGrace)
		if st != nil {
			st.close()
		}
		fmt.Fprint(os.Stderr, tails.String())
		if interrupted {
			err = fmt.Errorf("interrupted; every child process was stopped: %w", err)
		}
		if cfg.keep {
			fmt.Println("kept", dir)
		} else {
			_ = os.RemoveAll(dir)
		}
	}()

	// Described right before the build, so that the revision (and -dirty) is of the tree built.
	mach, err := describeMachine(ctx, moduleDir)
	if err != nil {
		return err
	}
	res := results{cfg: cfg, started: started.UTC(), loadStart: loadAverage(), machine: mach}
	figs := cfg.figures
	// measure runs figure n when it was asked for, and records the load average after it.
	measure := func(n int, what string, f func() error) error {
		if !figs.has(n) {
			return nil
		}
		if err := f(); err != nil {
			return fmt.Errorf("figure %d (%s): %w", n, what, err)
		}
		res.load[n] = loadAverage()
		return nil
	}
	if figs.has(1) || figs.has(2) || figs.has(3) || figs.has(4) || figs.has(5) || figs.has(6) {
		st, err = startStack(ctx, cancel, moduleDir, dir, cfg.workerEnv, cfg.untunedServer, procs, progress)
		if err != nil {
			return err
		}
		if m, err := readProcMemory(st.worker.pid()); err == nil {
			res.readyRSS = m.RSS
		}
	}
	if err := measure(1, "provision wall time", func() error { return measureWallTime(ctx, st, cfg, &res, progress) }); err != nil {
		return err
	}
	if err := measure(3, "unchanged redeploy", func() error { return measureRedeploy(ctx, st, cfg, &res, progress) }); err != nil {
		return err
	}
	if err := measure(2, "worker peak memory", func() error { return measurePeakMemory(ctx, st, cfg, &res, progress) }); err != nil {
		return err
	}
	if err := measure(4, "faults", func() error { return measureFaults(ctx, st, cfg, &res, progress) }); err != nil {
		return err
	}
	if err := measure(5, "burst", func() error { return measureBurst(ctx, st, cfg, &res, progress) }); err != nil {
		return err
	}
	if err := measure(6, "validate latency", func() error { return measureValidate(ctx, st, cfg, &res, progress) }); err != nil {
		return err
	}
	// Last: in this process, and a decoder that does not answer is left running (see decodeAbandon).
	if err := measure(7, "decode", func() error {
		progress("figure 7: generating the %s descriptors", formatBytes(decodeSize))
		hds, err := hostileDescriptors(decodeSize, fanoutKeys, nestDepth)
		if err != nil {
			return err
		}
		res.decodes, err = measureDecode(ctx, hds, progress)
		return err
	}); err != nil {
		return err
	}
	res.total, res.loadEnd = time.Since(started), loadAverage()

	fmt.Println()
	fmt.Print(renderTable(res))
	if cfg.out != "" {
		path := cfg.out
		if !filepath.IsAbs(path) {
			path = filepath.Join(moduleDir, path)
		}
		if err := writeReport(path, renderMarkdown(res)); err != nil {
			return err
		}
		fmt.Println("\nwrote", path)
	}
	return nil
}

// moduleRoot is the directory of the module's go.mod: binaries are built from there whatever
// the working directory.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := runQuiet(ctx, "", nil, "go", "env", "GOMOD")
	if err != nil {
		return "", err
	}
	gomod := strings.TrimSpace(out)
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("run the benchmark from inside the provisioner's module (go env GOMOD is empty)")
	}
	return filepath.Dir(gomod), nil
}
