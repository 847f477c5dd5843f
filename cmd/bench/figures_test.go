package main

import (
	"testing"
	"time"
)

func TestPercentileIsNearestRank(t *testing.T) {
	ms := func(n int) []time.Duration {
		out := make([]time.Duration, n)
		for i := range out {
			out[n-1-i] = time.Duration(i+1) * time.Millisecond // reversed: percentile sorts
		}
		return out
	}
	for _, tt := range []struct {
		n    int
		p    float64
		want time.Duration
	}{
		{1, 50, 1 * time.Millisecond}, {1, 99, 1 * time.Millisecond},
		{2, 50, 1 * time.Millisecond}, {4, 50, 2 * time.Millisecond}, {5, 50, 3 * time.Millisecond},
		{20, 99, 20 * time.Millisecond}, {100, 99, 99 * time.Millisecond}, {200, 99, 198 * time.Millisecond},
		{200, 50, 100 * time.Millisecond}, {200, 100, 200 * time.Millisecond},
	} {
		in := ms(tt.n)
		got, err := percentile(in, tt.p)
		if err != nil || got != tt.want {
			t.Errorf("p%v of 1..%d ms = %v, %v; want %v", tt.p, tt.n, got, err, tt.want)
		}
		if in[0] != time.Duration(tt.n)*time.Millisecond {
			t.Fatal("percentile reordered its argument")
		}
	}
	for _, p := range []float64{0, -1, 101} {
		if _, err := percentile(ms(3), p); err == nil {
			t.Errorf("p%v accepted", p)
		}
	}
	if _, err := percentile(nil, 50); err == nil {
		t.Error("percentile of nothing is not an error")
	}
}

func TestParseFigures(t *testing.T) {
	s, err := parseFigures("4, 7,4")
	if err != nil || !s.has(4) || !s.has(7) || s.has(1) || s.String() != "4,7" {
		t.Errorf("parseFigures = %v, %v", s, err)
	}
	if all := allFigures(); all.String() != "1,2,3,4,5,6,7" {
		t.Errorf("allFigures = %s", all)
	}
	for _, bad := range []string{"", "0", "8", "1,,2", "x"} {
		if _, err := parseFigures(bad); err == nil {
			t.Errorf("parseFigures(%q) accepted", bad)
		}
	}
}
