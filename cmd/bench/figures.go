package main

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// figureCount is the number of figures the harness can measure (issue 5's three, issue 11's four).
const figureCount = 7

// figureSet is the figures a run measures (-figures); index 0 is unused.
type figureSet [figureCount + 1]bool

func allFigures() figureSet {
	var s figureSet
	for i := 1; i <= figureCount; i++ {
		s[i] = true
	}
	return s
}

// parseFigures reads a comma-separated list of figure numbers, e.g. "1,2,3" or "4, 7".
func parseFigures(v string) (figureSet, error) {
	var s figureSet
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > figureCount {
			return s, fmt.Errorf("-figures %q: want a comma-separated list of numbers from 1 to %d", v, figureCount)
		}
		s[n] = true
	}
	return s, nil
}

func (s figureSet) has(n int) bool { return n >= 1 && n <= figureCount && s[n] }

func (s figureSet) String() string {
	var out []string
	for i := 1; i <= figureCount; i++ {
		if s[i] {
			out = append(out, strconv.Itoa(i))
		}
	}
	return strings.Join(out, ",")
}

// percentile is the nearest-rank p-th percentile of ds (0 < p ≤ 100): the smallest value with
// at least p% of the values at or below it. p99 of fewer than 100 values is their maximum, and
// p50 of an even count is the lower middle value (median averages the two).
func percentile(ds []time.Duration, p float64) (time.Duration, error) {
	if len(ds) == 0 {
		return 0, fmt.Errorf("percentile of no values")
	}
	if !(p > 0 && p <= 100) {
		return 0, fmt.Errorf("percentile %v out of (0, 100]", p)
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(math.Ceil(p * float64(len(s)) / 100)) // p×n first: 99×200/100 is exactly 198
	return s[max(rank, 1)-1], nil
}
