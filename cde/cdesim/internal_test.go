package cdesim

import (
	"testing"
	"time"
)

func TestRouteMatching(t *testing.T) {
	tests := []struct {
		pattern, method, path string
		want                  bool
	}{
		{"POST /api/v1/de/listServices", "POST", "/api/v1/de/listServices", true},
		{"POST /api/v1/de/listServices", "GET", "/api/v1/de/listServices", false},
		{"post /api/v1/de/*", "POST", "/api/v1/de/describeVc", true},
		{"/api/v1/de/*", "DELETE", "/api/v1/de/describeVc", true},
		{"/dex/api/v1/jobs/*", "GET", "/dex/api/v1/jobs/a/run", false},
		{"/dex/api/v1/jobs/**", "GET", "/dex/api/v1/jobs/a/run", true},
		{"/dex/api/v1/jobs/**", "GET", "/dex/api/v1/jobs", true},
		{"/dex/api/v1/jobs/**", "GET", "/dex/api/v1/jobsx", false},
		{"PUT /dex/api/v1/resources/*/**", "PUT", "/dex/api/v1/resources/r/a/b/c.py", true},
	}
	for _, tt := range tests {
		if got := parseRoute(tt.pattern).match(tt.method, tt.path); got != tt.want {
			t.Errorf("%q matches %s %s = %v, want %v", tt.pattern, tt.method, tt.path, got, tt.want)
		}
	}
}

func TestParseISODuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"PT30S", 30 * time.Second, true},
		{"PT1H30M", 90 * time.Minute, true},
		{"P1DT2H", 26 * time.Hour, true},
		{"P", 0, false},
		{"30s", 0, false},
	}
	for _, tt := range tests {
		got, err := parseISODuration(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseISODuration(%q) = %v, %v; want %v ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestMergePatchFollowsRFC7386(t *testing.T) {
	target := map[string]any{"a": "b", "c": map[string]any{"d": "e", "f": "g"}}
	patch := map[string]any{"a": "z", "c": map[string]any{"f": nil}}
	got := mergePatch(target, patch)
	if got["a"] != "z" || len(got["c"].(map[string]any)) != 1 || got["c"].(map[string]any)["d"] != "e" {
		t.Errorf("merge %v", got)
	}
}
