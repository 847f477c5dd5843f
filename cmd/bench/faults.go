package main

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/witboost-community/cde-spark-provisioner/cde/cdesim"
	"github.com/witboost-community/cde-spark-provisioner/descriptor"
)

// Figure 4: a provision whose every Cloudera route answers 503 twice before it answers, against
// the same provision without faults.
//
// cdesim.FailNext(pattern, n) fails the next n requests matching pattern, counted over every
// path the pattern matches: "/dex/**" with n = 2 fails two requests in all, not two per path.
// So the harness lists the paths a fault-free provision called (its request log), maps them to
// the next component's names, and adds one FailNext(path, 2) per path, each pattern the path
// itself with its glob characters escaped, so that it matches that path only.

// aimFaultsSlower is issue 11's bound on how much slower the faulted provision may be.
const aimFaultsSlower = 5 * time.Second

// faultsPerRoute is how many answers of each route are 503.
const faultsPerRoute = 2

// Sizes of the figure-4 job: small, the figure is about retries, not bytes.
const (
	faultJarSize int64 = 1 << 20
	faultDeps          = 2
	faultDepSize int64 = 1 << 20
)

// globEscape makes p a cdesim route pattern (a path.Match glob) that matches exactly p.
func globEscape(p string) string {
	var b strings.Builder
	for _, r := range p {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// renames maps the names a provision of one job puts in Cloudera paths (job and resources) to
// those of another job.
func renames(fromJob, toJob string) map[string]string {
	m := map[string]string{fromJob: toJob}
	for _, f := range []func(string) string{descriptor.MainResourceName, descriptor.PyEnvResourceName,
		descriptor.PyEnvAltResourceName, descriptor.ManifestResourceName} {
		m[f(fromJob)] = f(toJob)
	}
	return m
}

// renamePath replaces every path segment that is a key of names with its value.
func renamePath(p string, names map[string]string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if to, ok := names[s]; ok {
			segs[i] = to
		}
	}
	return strings.Join(segs, "/")
}

// faultRoutes is the distinct paths of recs, sorted, renamed with names, plus extra (the
// Knox token path, which a provision calls only when the worker's token has expired).
func faultRoutes(recs []cdesim.RequestRecord, names map[string]string, extra ...string) []string {
	var out []string
	for _, r := range recs {
		out = append(out, renamePath(r.Path, names))
	}
	out = append(out, extra...)
	slices.Sort(out)
	return slices.Compact(out)
}

// faultCoverage checks, from the faulted run's request log, what the faults did: per path
// called, how many of its answers were injected 503s. covered counts the paths whose first
// min(2, calls) answers were the injected failures; uncovered lists the paths called that had
// no rule (called only when faults happen); unused lists the routes with a rule that were not
// called.
func faultCoverage(recs []cdesim.RequestRecord, routes []string) (covered, injected int, uncovered, unused []string) {
	byPath := map[string][]cdesim.RequestRecord{}
	for _, r := range recs {
		byPath[r.Path] = append(byPath[r.Path], r)
	}
	for p, rs := range byPath {
		slices.SortStableFunc(rs, func(a, b cdesim.RequestRecord) int { return a.Time.Compare(b.Time) })
		firstOK := true
		for i, r := range rs {
			failed := strings.Contains(r.Fault, "fail")
			if failed {
				injected++
			}
			if (i < faultsPerRoute) != failed {
				firstOK = false
			}
		}
		switch {
		case !slices.Contains(routes, p):
			uncovered = append(uncovered, p)
		case firstOK:
			covered++
		}
	}
	for _, p := range routes {
		if _, ok := byPath[p]; !ok {
			unused = append(unused, p)
		}
	}
	slices.Sort(uncovered)
	slices.Sort(unused)
	return covered, injected, uncovered, unused
}

// knoxTokenPath is the path of the demo service's Knox token endpoint.
func knoxTokenPath(sim *cdesim.Sim) (string, error) {
	svc, ok := sim.Service(cdesim.DemoService)
	if !ok {
		return "", fmt.Errorf("the simulator has no service %s", cdesim.DemoService)
	}
	u, err := url.Parse(svc.TokenURL)
	if err != nil {
		return "", err
	}
	return u.Path, nil
}

// measureFaults is figure 4: -fault-runs pairs of a fault-free provision and a faulted one, each
// of a new component, after a warm-up; the faulted one gets two 503s on every path the
// fault-free one before it called.
func measureFaults(ctx context.Context, st *stack, cfg config, res *results, progress func(string, ...any)) error {
	set, err := putArtifacts(ctx, st.s3, "bench/faults", faultJarSize, faultDeps, faultDepSize)
	if err != nil {
		return err
	}
	knox, err := knoxTokenPath(st.sim)
	if err != nil {
		return err
	}
	defer st.sim.ClearFaults()
	provisionOnce := func(component string) (time.Duration, []cdesim.RequestRecord, error) {
		yaml, err := set.job(component).descriptorYAML(cdesim.DemoService, cdesim.DemoVC)
		if err != nil {
			return 0, nil, err
		}
		st.sim.ResetRequests()
		d, _, err := st.api.provision(ctx, yaml)
		if err != nil {
			return 0, nil, fmt.Errorf("provision %s: %w", component, err)
		}
		return d, st.sim.Requests(), nil
	}
	progress("figure 4: warm-up provision (not counted)")
	if _, _, err := provisionOnce("faults-warmup"); err != nil {
		return err
	}
	res.faultUncovered, res.faultUnused = nil, nil
	for i := 1; i <= cfg.faultRuns; i++ {
		clean, faulted := fmt.Sprintf("faults-c%d", i), fmt.Sprintf("faults-f%d", i)
		d, recs, err := provisionOnce(clean)
		if err != nil {
			return err
		}
		res.faultFree = append(res.faultFree, d)
		routes := faultRoutes(recs, renames(set.job(clean).JobName(), set.job(faulted).JobName()), knox)
		for _, r := range routes {
			if strings.ContainsAny(r, " \t") {
				return fmt.Errorf("path %q has a space, which a cdesim pattern cannot hold", r)
			}
			st.sim.FailNext(globEscape(r), faultsPerRoute, cdesim.Failure{})
		}
		df, frecs, err := provisionOnce(faulted)
		st.sim.ClearFaults()
		if err != nil {
			return fmt.Errorf("with faults: %w", err)
		}
		res.faulted = append(res.faulted, df)
		covered, injected, uncovered, unused := faultCoverage(frecs, routes)
		res.faultRoutes, res.faultCovered, res.faultInjected = len(routes), covered, injected
		res.faultCalls = len(frecs)
		res.faultUncovered = mergeSorted(res.faultUncovered, uncovered)
		res.faultUnused = mergeSorted(res.faultUnused, unused)
		progress("figure 4: run %d/%d: fault-free %s, with faults %s (%d routes × %d 503s, %d injected; %d paths called without a rule)",
			i, cfg.faultRuns, formatSeconds(d), formatSeconds(df), len(routes), faultsPerRoute, injected, len(uncovered))
	}
	if res.faultFreeMedian, err = median(res.faultFree); err != nil {
		return err
	}
	if res.faultedMedian, err = median(res.faulted); err != nil {
		return err
	}
	return nil
}

func mergeSorted(a, b []string) []string {
	out := append(slices.Clone(a), b...)
	slices.Sort(out)
	return slices.Compact(out)
}
