package main

import (
	"strings"
	"testing"
	"time"

	"github.com/witboost-community/cde-spark-provisioner/descriptor"
)

func TestHostileDescriptorsFillTheirSize(t *testing.T) {
	for _, size := range []int{64 << 10, decodeSize} {
		hds, err := hostileDescriptors(size, 512, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(hds) != 4 {
			t.Fatalf("%d descriptors, want 4", len(hds))
		}
		for _, h := range hds {
			// Within one repeated unit of the size: a component (under 1 KiB) at most.
			if len(h.Text) > size || len(h.Text) < size-1024 {
				t.Errorf("%s: %d bytes, want at most %d and within 1 KiB of it", h.Name, len(h.Text), size)
			}
			if !strings.HasSuffix(h.Text, "componentIdToProvision: urn:dmb:cmp:bench:perf:0:decode\n") {
				t.Errorf("%s does not end with the component to provision", h.Name)
			}
		}
	}
	hds, _ := hostileDescriptors(64<<10, 512, 1000)
	for i, want := range []string{"aliases of it", "flow sequences each nested 1000 deep", "one flow sequence of", "other workload components"} {
		if !strings.Contains(hds[i].About, want) {
			t.Errorf("descriptor %d is described %q, want %q in it", i, hds[i].About, want)
		}
	}
	if n := strings.Count(hds[0].Text, "*a"); n < 1000 {
		t.Errorf("alias fan-out has %d aliases", n)
	}
	if !strings.Contains(hds[1].Text, "[[[[[[[[") || strings.Count(hds[1].Text, "[") != strings.Count(hds[1].Text, "]") {
		t.Error("deep nesting is not balanced flow sequences")
	}
}

func TestHostileDescriptorsAreOtherwiseValid(t *testing.T) {
	// With nothing added, the base descriptor passes every static rule: what the hostile ones
	// measure is the added part, not a broken base.
	head, comp, tail, err := decodeBase("decode")
	if err != nil {
		t.Fatal(err)
	}
	if d, ps := descriptor.Check(head + comp + tail); d == nil || len(ps) > 0 {
		t.Fatalf("base descriptor: %v", ps)
	}
}

func TestMeasureDecodeReportsEveryDescriptor(t *testing.T) {
	hds, err := hostileDescriptors(16<<10, 64, 100)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := measureDecode(t.Context(), hds, func(string, ...any) {})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != len(hds) {
		t.Fatalf("%d results for %d descriptors", len(rs), len(hds))
	}
	for _, r := range rs {
		if r.Time <= 0 || r.Alloc <= 0 || r.Outcome == "" || r.Size == 0 {
			t.Errorf("result %+v", r)
		}
	}
	wt, wtOf, wa, waOf := worstDecode([]decodeResult{{Name: "a", Time: time.Millisecond, Alloc: 5}, {Name: "b", Time: 2 * time.Millisecond, Alloc: 3}})
	if wt != 2*time.Millisecond || wtOf != "b" || wa != 5 || waOf != "a" {
		t.Errorf("worstDecode = %v %s %d %s", wt, wtOf, wa, waOf)
	}
}

func TestCheckOnceGivesUpAfterItsLimit(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	blocked := func(string) (*descriptor.Descriptor, descriptor.Problems) { <-release; return nil, nil }
	if _, _, _, done := checkOnce(blocked, "x", 10*time.Millisecond); done {
		t.Error("a check that never returns was reported done")
	}
	refused := func(string) (*descriptor.Descriptor, descriptor.Problems) {
		return nil, descriptor.Problems{{Field: "descriptor", Message: "too deep"}}
	}
	if _, _, outcome, done := checkOnce(refused, "x", time.Minute); !done || !strings.HasPrefix(outcome, "refused, 1 problem(s): too deep") {
		t.Errorf("outcome %q, done %v", outcome, done)
	}
}

// TestDecodeFigureByHand prints figure 7 for the full-size descriptors (-run DecodeFigureByHand -v).
func TestDecodeFigureByHand(t *testing.T) {
	if testing.Short() || !testing.Verbose() {
		t.Skip("by hand: go test -v -run DecodeFigureByHand ./cmd/bench/")
	}
	hds, err := hostileDescriptors(decodeSize, fanoutKeys, nestDepth)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := measureDecode(t.Context(), hds, t.Logf); err != nil {
		t.Fatal(err)
	}
}
