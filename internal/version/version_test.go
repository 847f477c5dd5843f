package version

import (
	"runtime"
	"strings"
	"testing"
)

func TestRequested(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want bool
	}{
		{"no arguments runs the program", nil, false},
		{"double-dash version is a request", []string{"--version"}, true},
		{"single-dash version is a request, as the flag package accepts it", []string{"-version"}, true},
		{"explicit true is a request", []string{"--version=true"}, true},
		{"version among other flags is a request", []string{"-seed", "x.yaml", "--version"}, true},
		{"after the flag terminator it is an argument", []string{"--", "--version"}, false},
		{"a look-alike is not a request", []string{"--versions"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Requested(tt.args); got != tt.want {
				t.Errorf("Requested(%q) = %t, want %t", tt.args, got, tt.want)
			}
		})
	}
}

func TestStringNamesProgramVersionCommitDateAndGo(t *testing.T) {
	// The package variables are what -X stamps; set them as the linker would.
	defer func(v, c, d string) { Version, Commit, Date = v, c, d }(Version, Commit, Date)
	Version, Commit, Date = "v1.2.3", "abc1234", "2026-11-29T16:00:00Z"
	got := String("worker")
	want := "worker v1.2.3 (commit abc1234, built 2026-11-29T16:00:00Z, " + runtime.Version() + ")"
	if got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
}

func TestUnstampedCommitIsNeverEmpty(t *testing.T) {
	defer func(c string) { Commit = c }(Commit)
	Commit = ""
	// A test binary carries no VCS stamp, so this exercises the "unknown" fallback; a
	// `go build` in a checkout would give the revision instead.
	if got := String("api"); strings.Contains(got, "commit ,") {
		t.Errorf("String = %q: empty commit", got)
	}
}
