package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestWriteReportKeepsTheNotes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "BENCHMARKS.md")

	if err := writeReport(path, "# first\n"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(b), "# first\n\n"+notesMarker+defaultNotes) {
		t.Fatalf("a new file has the generated part, the marker and the default notes; got:\n%s", b)
	}

	// Someone writes notes below the marker; the next run replaces only the part above it.
	edited := strings.Replace(string(b), defaultNotes, "\n## Notes\n\nThe ratio is missed because of X.\n", 1)
	if err := os.WriteFile(path, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeReport(path, "# second\n"); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(path)
	want := "# second\n\n" + notesMarker + "\n## Notes\n\nThe ratio is missed because of X.\n"
	if string(b) != want {
		t.Fatalf("got:\n%s\nwant:\n%s", b, want)
	}
	if _, err := os.Stat(path + ".tmp"); !os.IsNotExist(err) {
		t.Error("the temporary file was left behind")
	}
}

func TestWriteReportWithoutMarkerStartsFreshNotes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "BENCHMARKS.md")
	if err := os.WriteFile(path, []byte("hand-written, no marker\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeReport(path, "# gen\n"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if string(b) != "# gen\n\n"+notesMarker+defaultNotes {
		t.Fatalf("got:\n%s", b)
	}
}

func TestVerdictsSayByHowMuchAnAimIsMissed(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{ratioVerdict(0.30), "met"},
		{ratioVerdict(0.25), "met"},
		{ratioVerdict(0.45), "missed by 0.15 (50% above the aim)"},
		{memoryVerdict(127 << 20), "met"},
		{memoryVerdict(128 << 20), "missed by 0 B"},
		{memoryVerdict(200 << 20), "missed by 72.0 MiB"},
		{redeployVerdict(0, 88<<20), "met"},
		{redeployVerdict(88<<20, 88<<20), "missed by 88.0 MiB (100% of the first deploy's 88.0 MiB)"},
		{redeployVerdict(8<<20, 0), "missed by 8.0 MiB"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestCommandRecordsHowTheHarnessRan(t *testing.T) {
	c := config{args: []string{"-runs", "3", "-via", "make bench", "-out=x.md"}, via: "make bench"}
	if got, want := c.command(), "`make bench` (runs `go run ./cmd/bench -runs 3 -out=x.md`)"; got != want {
		t.Errorf("command() = %q, want %q", got, want)
	}
	c = config{args: nil}
	if got, want := c.command(), "`go run ./cmd/bench`"; got != want {
		t.Errorf("command() = %q, want %q", got, want)
	}
	if got := withoutVia([]string{"--via=make", "-keep", "-via", "x"}); !reflect.DeepEqual(got, []string{"-keep"}) {
		t.Errorf("withoutVia = %q", got)
	}
}

func TestRenderShowsEveryFigure(t *testing.T) {
	r := results{
		cfg:         config{runs: 3, deps: 10, depSize: 8 << 20, jarSize: 8 << 20, bigJarSize: 1 << 30, latency: 50 * time.Millisecond, figures: allFigures(), burst: 200, faultRuns: 1},
		provisioner: []time.Duration{time.Second, time.Second, time.Second}, sequential: []time.Duration{2 * time.Second, 2 * time.Second, 2 * time.Second},
		provMedian: 1200 * time.Millisecond, seqMedian: 1400 * time.Millisecond, ratio: 0.857,
		peakHWM: 52 << 20, redeployBytes: 0, firstDeployBytes: 88 << 20, hwmReset: true,
	}
	table := renderTable(r)
	for _, want := range []string{"1.200 s", "1.400 s", "0.86", "missed by 0.56", "52.0 MiB", "< 128.0 MiB", "0 B"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	md := renderMarkdown(r)
	for _, want := range []string{"| 1. **ratio provisioner / sequential** | **0.86** | ≤ 0.30 |", "**52.0 MiB**", "clear_refs", "REQUEST_DEDUPE_WINDOW=0", "`go run ./cmd/bench`"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
}

func TestParseFlags(t *testing.T) {
	c, err := parseFlags([]string{"-runs", "3", "-dep-size", "1MiB", "-worker-env", "UPLOAD_CONCURRENCY=16", "-worker-env", "A=b=c"})
	if err != nil {
		t.Fatal(err)
	}
	if c.runs != 3 || c.depSize != 1<<20 || c.jarSize != 8<<20 || c.bigJarSize != 1<<30 || c.deps != 10 || c.latency != 50*time.Millisecond {
		t.Errorf("config %+v", c)
	}
	if !reflect.DeepEqual([]string(c.workerEnv), []string{"UPLOAD_CONCURRENCY=16", "A=b=c"}) {
		t.Errorf("worker env %q", c.workerEnv)
	}
	if !strings.Contains(renderMarkdown(results{cfg: c}), "worker settings changed | `UPLOAD_CONCURRENCY=16 A=b=c`") {
		t.Error("the report does not say the worker's settings were changed")
	}
	if c.figures != allFigures() || c.burst != 200 || c.validations != 30 || c.faultRuns != 3 {
		t.Errorf("defaults: figures %s, burst %d, validations %d, fault runs %d", c.figures, c.burst, c.validations, c.faultRuns)
	}
	if c, err := parseFlags([]string{"-figures", "4,5,6,7", "-burst", "20", "-validations", "5"}); err != nil || c.figures.String() != "4,5,6,7" || c.burst != 20 || c.validations != 5 {
		t.Errorf("parseFlags: %+v, %v", c, err)
	}
	for _, bad := range [][]string{{"-figures", "0"}, {"-burst", "0"}, {"-validations", "-1"}, {"-fault-runs", "0"}, {"-runs", "0"}, {"-big-jar", "1TB"}, {"-worker-env", "NOEQUALS"}, {"extra"}, {"-deps", "-1"}} {
		if _, err := parseFlags(bad); err == nil {
			t.Errorf("parseFlags(%q) accepted", bad)
		}
	}
}

func TestRenderShowsTheNewFiguresWithAimsAndLoad(t *testing.T) {
	r := results{
		cfg:       config{figures: allFigures(), burst: 20, faultRuns: 1, validations: 2},
		faultFree: []time.Duration{time.Second}, faulted: []time.Duration{7 * time.Second},
		faultFreeMedian: time.Second, faultedMedian: 7 * time.Second, faultRoutes: 12, faultCovered: 12,
		faultUncovered: []string{"/dex/api/v1/jobs/x"},
		burst:          []time.Duration{time.Second, 2 * time.Second}, burstP50: time.Second, burstP99: 2 * time.Second,
		validations: []time.Duration{60 * time.Millisecond}, floor: []time.Duration{20 * time.Millisecond},
		validateP50: 60 * time.Millisecond, floorP50: 20 * time.Millisecond, validateRatio: 3,
		decodes: []decodeResult{
			{Name: "alias fan-out", About: "x", Size: 2 << 20, Time: 250 * time.Millisecond, Alloc: 10 << 20, Outcome: "decoded, 0 problem(s)"},
			{Name: "deep nesting", About: "y", Size: 2 << 20, Time: 50 * time.Millisecond, Alloc: 100 << 20, Outcome: "refused, 1 problem(s): a|b"},
		},
	}
	r.load[4], r.load[7] = "1.50 1.07 1.41", "0.20 0.30 0.40"
	table := renderTable(r)
	for _, want := range []string{
		"4. slower with faults", "6.000 s", "≤ 5.000 s", "missed by 1.000 s", "1.50 1.07 1.41",
		"5. burst p99 (2 completed, 0 failed)", "2.000 s", "≤ 10.000 s",
		"6. ratio validate / floor", "3.00", "≤ 2.0", "missed by 1.00",
		"7. worst decode time of a 2.0 MiB descriptor (alias fan-out)", "250.0 ms", "≤ 200.0 ms", "missed by 50.0 ms",
		"7. worst decode allocation of a 2.0 MiB descriptor (deep nesting)", "100.0 MiB", "≤ 64.0 MiB", "missed by 36.0 MiB", "0.20 0.30 0.40",
	} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	md := renderMarkdown(r)
	for _, want := range []string{
		"| 4. **slower with faults** | **6.000 s** | ≤ 5.000 s | missed by 1.000 s | 1.50 1.07 1.41 |",
		"| 5. **burst p99** (2 completed, 0 failed) | **2.000 s** | ≤ 10.000 s | met |",
		"| 6. **ratio validate / floor** | **3.00** | ≤ 2.0 | missed by 1.00 |",
		"| 7. **worst decode allocation** of a 2.0 MiB descriptor (deep nesting) | **100.0 MiB** | ≤ 64.0 MiB | missed by 36.0 MiB | 0.20 0.30 0.40 |",
		"### 4. Faults", "`/dex/api/v1/jobs/x`", "### 5. Burst", "### 6. Validate latency", "### 7. Decode",
		"refused, 1 problem(s): a\\|b",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}

	r.cfg.figures, _ = parseFigures("7")
	table = renderTable(r)
	if strings.Count(table, "skipped (-figures)") != 6 || strings.Contains(table, "figure 1 job") {
		t.Errorf("skipped figures:\n%s", table)
	}
	if md := renderMarkdown(r); strings.Contains(md, "### 1. Provision wall time") || strings.Contains(md, "### 4. Faults") || !strings.Contains(md, "### 7. Decode") {
		t.Error("the markdown details figures that were not run")
	}
}

func TestBurstVerdict(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{burstVerdict(10*time.Second, 0), "met"},
		{burstVerdict(12*time.Second, 0), "missed by 2.000 s"},
		{burstVerdict(time.Second, 3), "missed: 3 provision(s) failed"},
		{burstVerdict(11*time.Second, 1), "missed: 1 provision(s) failed, and p99 by 1.000 s"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}
