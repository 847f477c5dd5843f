package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// procMemory is what /proc/<pid>/status says of a process's resident memory, in bytes.
type procMemory struct {
	// HWM is VmHWM, the peak resident set size ("high water mark") since the process started or
	// since the peak was last reset through clear_refs.
	HWM int64
	// RSS is VmRSS, the resident set size now.
	RSS int64
}

// parseProcStatus reads VmHWM and VmRSS from the text of /proc/<pid>/status, whose lines look
// like "VmHWM:\t  123456 kB". The kernel always reports these in kB (KiB); any other unit, or
// a missing field, is an error rather than a silently wrong figure.
func parseProcStatus(r io.Reader) (procMemory, error) {
	var m procMemory
	var haveHWM, haveRSS bool
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		key, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "VmHWM" && key != "VmRSS") {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return procMemory{}, fmt.Errorf("%s: unexpected value %q (want \"<n> kB\")", key, strings.TrimSpace(rest))
		}
		kib, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil || kib < 0 {
			return procMemory{}, fmt.Errorf("%s: %q is not a size in kB", key, fields[0])
		}
		if key == "VmHWM" {
			m.HWM, haveHWM = kib*1024, true
		} else {
			m.RSS, haveRSS = kib*1024, true
		}
	}
	if err := sc.Err(); err != nil {
		return procMemory{}, err
	}
	if !haveHWM || !haveRSS {
		// Kernel threads and zombies have no Vm* lines.
		return procMemory{}, fmt.Errorf("no VmHWM/VmRSS lines (is the process a zombie?)")
	}
	return m, nil
}

// readProcMemory reads the memory figures of a live process.
func readProcMemory(pid int) (procMemory, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procMemory{}, err
	}
	defer f.Close()
	m, err := parseProcStatus(f)
	if err != nil {
		return procMemory{}, fmt.Errorf("/proc/%d/status: %w", pid, err)
	}
	return m, nil
}

// resetPeakRSS sets the process's VmHWM back to its current RSS (writing 5 to clear_refs, Linux
// 4.0 and later), so that the next reading is the peak of what happens from now on rather than
// of the process's whole life.
func resetPeakRSS(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// rssSampler polls VmRSS while a measurement runs. VmHWM is the authoritative peak; the samples
// are a cross-check that does not depend on clear_refs being honoured.
type rssSampler struct {
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	max     int64
	samples int
	err     error
}

func startRSSSampler(ctx context.Context, pid int, every time.Duration) *rssSampler {
	s := &rssSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			m, err := readProcMemory(pid)
			s.mu.Lock()
			if err != nil {
				s.err = err
			} else {
				s.samples++
				s.max = max(s.max, m.RSS)
			}
			s.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// finish stops sampling and returns the largest VmRSS seen and the number of samples.
func (s *rssSampler) finish() (maxRSS int64, samples int, err error) {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.samples == 0 {
		return 0, 0, s.err
	}
	return s.max, s.samples, nil
}
