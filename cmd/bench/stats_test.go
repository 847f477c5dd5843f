package main

import (
	"math"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	tests := []struct {
		name string
		in   []time.Duration
		want time.Duration
	}{
		{"one value is its own median", ms(7), 7 * time.Millisecond},
		{"odd count takes the middle of the sorted values", ms(900, 100, 300), 300 * time.Millisecond},
		{"one slow run does not move it", ms(100, 101, 99, 5000, 100), 100 * time.Millisecond},
		{"even count averages the two middle values", ms(4, 1, 3, 2), 2500 * time.Microsecond},
		{"odd nanoseconds average without losing the half", []time.Duration{1, 2}, 1},
		{"three odd nanoseconds", []time.Duration{3, 5}, 4},
		{"huge durations do not overflow", []time.Duration{math.MaxInt64, math.MaxInt64 - 2}, math.MaxInt64 - 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]time.Duration(nil), tt.in...)
			got, err := median(tt.in)
			if err != nil || got != tt.want {
				t.Fatalf("median(%v) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
			for i := range in {
				if in[i] != tt.in[i] {
					t.Fatal("median reordered its argument")
				}
			}
		})
	}
	if _, err := median(nil); err == nil {
		t.Error("median of nothing is not an error")
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 8 << 20: "8.0 MiB", 128 << 20: "128.0 MiB",
		54321 * 1024: "53.0 MiB", 1 << 30: "1.00 GiB", -2048: "-2.0 KiB",
	} {
		if got := formatBytes(n); got != want {
			t.Errorf("formatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"8MiB": 8 << 20, "1GiB": 1 << 30, "512KiB": 512 << 10, "100B": 100, "4096": 4096, "0": 0,
	} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "8 MiB", "8MB", "-1", "+5", "1.5GiB", "99999999999GiB", "x"} {
		if got, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", in, got)
		}
	}
}
