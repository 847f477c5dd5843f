package main

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/witboost-community/cde-spark-provisioner/descriptor"
)

// Figure 7: the worst case of decoding a descriptor of the largest size the API accepts, in
// this process (descriptor.Check, as the API calls it on every request).
const (
	// decodeSize is the size of the generated descriptors: 2 MiB, the limit the API accepts
	// (descriptor.MaxDescriptorBytes when this was written).
	decodeSize = 2 << 20
	// fanoutKeys is the number of keys of the anchored mapping of the alias fan-out.
	fanoutKeys = 4096
	// nestDepth is how deep the deep-nesting descriptor nests each of its flow sequences: under
	// the 10,000 levels at which gopkg.in/yaml.v3 stops parsing, so the parser goes through them.
	nestDepth = 9000
	// decodeReps is how many times each descriptor is checked; its time is the median, its
	// allocation the largest.
	decodeReps = 3
	// decodeAbandon bounds one Check: a decoder that has not answered by then misses the aim by
	// far, and waiting longer would only delay the report (the call cannot be cancelled, so it
	// is left running; figure 7 is measured last for that reason).
	decodeAbandon = 60 * time.Second
)

// The aims of issue 11 for figure 7.
const (
	aimDecodeTime        = 200 * time.Millisecond
	aimDecodeAlloc int64 = 64 << 20
)

// hostileDescriptor is one generated worst case.
type hostileDescriptor struct {
	Name  string // short name, for the report
	About string // what it is
	Text  string
}

// decodeBase is a valid descriptor cut in three: everything up to the components list, the one
// workload component (a list item), and the componentIdToProvision line.
func decodeBase(component string) (head, comp, tail string, err error) {
	job := jobSpec{Component: component, Jar: descriptor.S3Location{Bucket: artifactBucket, Key: "bench/decode/app.jar"}}
	text, err := job.descriptorYAML("cde-bench", "vc-bench")
	if err != nil {
		return "", "", "", err
	}
	const list, last = "  components:\n", "componentIdToProvision:"
	i, j := strings.Index(text, list), strings.Index(text, last)
	if i < 0 || j < i {
		return "", "", "", fmt.Errorf("the descriptor template changed: no %q before %q", list, last)
	}
	i += len(list)
	return text[:i], text[i:j], text[j:], nil
}

// fill repeats unit as many times as fit in room bytes (none when room is negative).
func fill(unit string, room int) string {
	if room < len(unit) {
		return ""
	}
	return strings.Repeat(unit, room/len(unit))
}

// hostileDescriptors generates the worst cases of figure 7, each of at most size bytes and
// within one repeated unit of it, each asking to provision a valid workload component:
//   - alias fan-out: a first component that is an anchored mapping of keys keys, then as many
//     aliases of it as fit, then the real component (a decoder that expands aliases, or walks
//     the anchored mapping for every alias, does keys × aliases work);
//   - deep nesting: the real component's dependencies are flow sequences nested maxDepth deep
//     (the YAML parser refuses 10,000 levels at once, which is quick; just under is the slow
//     case), as many as fit;
//   - long flow sequence: its dependencies are one flow sequence of as many S3 locations as fit;
//   - many components: as many other workload components as fit before the real one.
func hostileDescriptors(size, keys, maxDepth int) ([]hostileDescriptor, error) {
	head, comp, tail, err := decodeBase("decode")
	if err != nil {
		return nil, err
	}
	var out []hostileDescriptor

	// Alias fan-out.
	var anchor strings.Builder
	anchor.WriteString("    - &a {")
	for i := range keys {
		if i > 0 {
			anchor.WriteString(", ")
		}
		fmt.Fprintf(&anchor, "k%d: %d", i, i)
	}
	anchor.WriteString("}\n")
	aliases := fill("    - *a\n", size-len(head)-anchor.Len()-len(comp)-len(tail))
	out = append(out, hostileDescriptor{"alias fan-out",
		fmt.Sprintf("an anchored mapping of %d keys, then %d aliases of it, in the components list", keys, strings.Count(aliases, "\n")),
		head + anchor.String() + aliases + comp + tail})

	// Deep nesting and long flow sequence: the dependencies of the real component.
	const noDeps = "dependencies: []"
	if !strings.Contains(comp, noDeps) {
		return nil, fmt.Errorf("the descriptor template changed: no %q", noDeps)
	}
	room := size - len(head) - len(comp) - len(tail) + len(noDeps) - len("dependencies: []")
	depth := maxDepth
	if room < 2*depth+1 {
		depth = max(room/2-1, 0) // a small size: one nest as deep as fits
	}
	nest := strings.Repeat("[", depth) + strings.Repeat("]", depth) + ","
	nests := fill(nest, room+1) // the last comma is dropped
	if rest := (room + 1 - len(nests) - 1) / 2; rest > 0 {
		nests += strings.Repeat("[", rest) + strings.Repeat("]", rest) + "," // and a shallower one in what is left
	}
	out = append(out, hostileDescriptor{"deep nesting",
		fmt.Sprintf("dependencies of %d flow sequences each nested %d deep (and one shallower)", len(nests)/len(nest), depth),
		head + strings.Replace(comp, noDeps, "dependencies: ["+strings.TrimSuffix(nests, ",")+"]", 1) + tail})

	var seq strings.Builder
	seq.WriteString("dependencies: [")
	n := 0
	for {
		item := fmt.Sprintf("s3://%s/bench/decode/libs/dep-%06d.jar", artifactBucket, n)
		if n > 0 {
			item = ", " + item
		}
		if len(head)+len(comp)-len(noDeps)+seq.Len()+len(item)+len("]")+len(tail) > size {
			break
		}
		seq.WriteString(item)
		n++
	}
	seq.WriteString("]")
	out = append(out, hostileDescriptor{"long flow sequence",
		fmt.Sprintf("one flow sequence of %d dependencies", n),
		head + strings.Replace(comp, noDeps, seq.String(), 1) + tail})

	// Many components.
	var many strings.Builder
	count := 0
	for {
		_, other, _, err := decodeBase(fmt.Sprintf("other-%06d", count))
		if err != nil {
			return nil, err
		}
		if len(head)+many.Len()+len(other)+len(comp)+len(tail) > size {
			break
		}
		many.WriteString(other)
		count++
	}
	out = append(out, hostileDescriptor{"many components",
		fmt.Sprintf("%d other workload components before the one to provision", count),
		head + many.String() + comp + tail})
	return out, nil
}

// decodeResult is one descriptor's figure.
type decodeResult struct {
	Name, About string
	Size        int
	Time        time.Duration // median of decodeReps
	Alloc       int64         // largest TotalAlloc delta
	Outcome     string        // "decoded, N problems: …" or "refused: …"
	Abandoned   bool          // Check had not returned after decodeAbandon
}

// measureDecode checks each descriptor decodeReps times, each after a GC, and returns its wall
// time and the bytes allocated meanwhile (runtime.MemStats.TotalAlloc, which counts every
// allocation of the process: the harness's other goroutines are idle while it runs, and
// figure 7 is measured after the others).
func measureDecode(ctx context.Context, hds []hostileDescriptor, progress func(string, ...any)) ([]decodeResult, error) {
	var out []decodeResult
	for _, h := range hds {
		r := decodeResult{Name: h.Name, About: h.About, Size: len(h.Text)}
		var times []time.Duration
		for range decodeReps {
			if err := ctx.Err(); err != nil {
				return out, context.Cause(ctx)
			}
			d, alloc, outcome, done := checkOnce(descriptor.Check, h.Text, decodeAbandon)
			if !done {
				r.Time, r.Alloc, r.Abandoned = decodeAbandon, alloc, true
				r.Outcome = fmt.Sprintf("no answer after %s (abandoned)", decodeAbandon)
				times = nil
				break
			}
			times = append(times, d)
			r.Alloc, r.Outcome = max(r.Alloc, alloc), outcome
		}
		if times != nil {
			r.Time, _ = median(times)
		}
		progress("figure 7: %s (%s): %s, %s allocated; %s", h.Name, formatBytes(int64(r.Size)), formatMillis(r.Time), formatBytes(r.Alloc), r.Outcome)
		out = append(out, r)
		if r.Abandoned {
			// The abandoned call still runs: the next ones would measure it too.
			break
		}
	}
	return out, nil
}

// checkOnce runs descriptor.Check on text after a GC and returns its wall time, the bytes the
// process allocated meanwhile, and what it answered; done is false when it did not return
// within limit (alloc is then what was allocated until the limit).
func checkOnce(check func(string) (*descriptor.Descriptor, descriptor.Problems), text string, limit time.Duration) (elapsed time.Duration, alloc int64, outcome string, done bool) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	type answer struct {
		d        *descriptor.Descriptor
		problems descriptor.Problems
		elapsed  time.Duration
	}
	ch := make(chan answer, 1)
	start := time.Now()
	go func() {
		d, ps := check(text)
		ch <- answer{d, ps, time.Since(start)}
	}()
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case a := <-ch:
		runtime.ReadMemStats(&after)
		return a.elapsed, int64(after.TotalAlloc - before.TotalAlloc), decodeOutcome(a.d, a.problems), true
	case <-t.C:
		runtime.ReadMemStats(&after)
		return limit, int64(after.TotalAlloc - before.TotalAlloc), "", false
	}
}

// decodeOutcome says whether the descriptor was decoded, and its first problem.
func decodeOutcome(d *descriptor.Descriptor, ps descriptor.Problems) string {
	first := ""
	if len(ps) > 0 {
		first = ": " + truncate([]byte(ps[0].String()), 120)
	}
	if d == nil {
		return fmt.Sprintf("refused, %d problem(s)%s", len(ps), first)
	}
	return fmt.Sprintf("decoded, %d problem(s)%s", len(ps), first)
}

// worstDecode is the largest time and the largest allocation over the results.
func worstDecode(rs []decodeResult) (worstTime time.Duration, timeOf string, worstAlloc int64, allocOf string) {
	for _, r := range rs {
		if r.Time >= worstTime {
			worstTime, timeOf = r.Time, r.Name
		}
		if r.Alloc >= worstAlloc {
			worstAlloc, allocOf = r.Alloc, r.Name
		}
	}
	return
}

// formatMillis renders a short duration in milliseconds.
func formatMillis(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
}
