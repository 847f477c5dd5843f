package main

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// median returns the median of ds (the mean of the two middle values for an even count), which
// a single slow run (a GC pause, a noisy neighbour) does not move as it would a mean.
func median(ds []time.Duration) (time.Duration, error) {
	if len(ds) == 0 {
		return 0, fmt.Errorf("median of no values")
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2], nil
	}
	// Halve before adding so two large durations cannot overflow.
	return s[n/2-1]/2 + s[n/2]/2 + (s[n/2-1]%2+s[n/2]%2)/2, nil
}

// formatBytes renders n with binary units (MiB, GiB), keeping exact bytes for small counts.
func formatBytes(n int64) string {
	const (
		kib = 1 << 10
		mib = 1 << 20
		gib = 1 << 30
	)
	switch {
	case n < 0:
		return "-" + formatBytes(-n)
	case n < kib:
		return fmt.Sprintf("%d B", n)
	case n < mib:
		return fmt.Sprintf("%.1f KiB", float64(n)/kib)
	case n < gib:
		return fmt.Sprintf("%.1f MiB", float64(n)/mib)
	}
	return fmt.Sprintf("%.2f GiB", float64(n)/gib)
}

// formatSeconds renders a wall time in seconds with millisecond precision.
func formatSeconds(d time.Duration) string { return fmt.Sprintf("%.3f s", d.Seconds()) }

// parseSize reads a size such as "8MiB", "1GiB", "512KiB", "100B" or a plain byte count.
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}
	num, mult := s, int64(1)
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			num, mult = n, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || num[0] == '+' {
		return 0, fmt.Errorf("size %q: want a whole number, optionally followed by GiB, MiB, KiB or B", s)
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return n * mult, nil
}
