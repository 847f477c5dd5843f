package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseProcStatus(t *testing.T) {
	const real = "Name:\tworker\nVmPeak:\t 1300000 kB\nVmSize:\t 1290000 kB\nVmHWM:\t   54321 kB\nVmRSS:\t   50000 kB\nThreads:\t12\n"
	tests := []struct {
		name    string
		text    string
		want    procMemory
		wantErr string
	}{
		{name: "a worker's status reads in bytes", text: real, want: procMemory{HWM: 54321 * 1024, RSS: 50000 * 1024}},
		{name: "order and spacing do not matter", text: "VmRSS: 1 kB\nVmHWM:2 kB\n", want: procMemory{HWM: 2048, RSS: 1024}},
		{name: "a zombie has no Vm lines", text: "Name:\tworker\nState:\tZ (zombie)\n", wantErr: "no VmHWM/VmRSS"},
		{name: "VmRSS alone is not enough", text: "VmRSS:\t 10 kB\n", wantErr: "no VmHWM/VmRSS"},
		{name: "another unit is refused, not misread", text: "VmHWM:\t 1 MB\nVmRSS:\t 1 kB\n", wantErr: "VmHWM"},
		{name: "a non-number is refused", text: "VmHWM:\t x kB\nVmRSS:\t 1 kB\n", wantErr: "not a size"},
		{name: "a negative size is refused", text: "VmHWM:\t -5 kB\nVmRSS:\t 1 kB\n", wantErr: "not a size"},
		{name: "a missing unit is refused", text: "VmHWM:\t 5\nVmRSS:\t 1 kB\n", wantErr: "VmHWM"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseProcStatus(strings.NewReader(tt.text))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestReadProcMemoryOfThisProcess(t *testing.T) {
	m, err := readProcMemory(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if m.RSS <= 0 || m.HWM < m.RSS {
		t.Errorf("got %+v: want 0 < RSS <= HWM", m)
	}
	if _, err := readProcMemory(-1); err == nil {
		t.Error("no error for a process that cannot exist")
	}
}

func TestRSSSamplerTakesASampleAtOnce(t *testing.T) {
	s := startRSSSampler(context.Background(), os.Getpid(), time.Hour)
	// The first sample is taken before the sampler waits, so even an immediate finish has one.
	maxRSS, n, err := s.finish()
	if err != nil || n < 1 || maxRSS <= 0 {
		t.Fatalf("finish() = %d, %d, %v; want at least one positive sample", maxRSS, n, err)
	}
}

func TestRSSSamplerReportsAProcessItCannotRead(t *testing.T) {
	s := startRSSSampler(context.Background(), -1, time.Hour)
	if _, n, err := s.finish(); err == nil || n != 0 {
		t.Fatalf("finish() = %d samples, %v; want no sample and the error", n, err)
	}
}
