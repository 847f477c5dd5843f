package main

import (
	"strings"
	"testing"
	"time"

	"github.com/witboost-community/cde-spark-provisioner/cde/cdesim"
)

// rec is a request of the simulator's log starting at offset ms and lasting dur ms.
func rec(target, method, path string, offset, dur int) cdesim.RequestRecord {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return cdesim.RequestRecord{
		Time: t0.Add(time.Duration(offset) * time.Millisecond), Duration: time.Duration(dur) * time.Millisecond,
		Target: target, Method: method, Path: path, Status: 200,
	}
}

func TestCountCallsSortsRequestsByHost(t *testing.T) {
	recs := []cdesim.RequestRecord{
		rec("controlplane", "POST", "/api/v1/de/listServices", 0, 1),
		rec("controlplane", "POST", "/api/v1/de/describeService", 0, 1),
		rec("knox:cde-dev", "GET", "/gateway/authtkn/knoxtoken/api/v1/token", 0, 1),
		rec("vc:dex-1", "GET", "/dex/api/v1/resources/r", 0, 1),
		rec("vc:dex-1", "PUT", "/dex/api/v1/resources/r/app.jar", 0, 1),
		rec("vc:dex-1", "PUT", "/dex/api/v1/resources/r/lib/dep.jar", 0, 1),
		rec("vc:dex-1", "PATCH", "/dex/api/v1/jobs/j", 0, 1),
	}
	got := countCalls(recs)
	want := callCount{ControlPlane: 2, Knox: 1, JobsAPI: 4, Uploads: 2}
	if got != want {
		t.Fatalf("countCalls = %+v, want %+v", got, want)
	}
	if got.total() != 7 || !strings.Contains(got.String(), "7 (control plane 2, Knox 1, jobs API 4 of which 2 uploads)") {
		t.Errorf("String() = %q", got.String())
	}
}

func TestMaxConcurrent(t *testing.T) {
	put := func(offset, dur int) cdesim.RequestRecord {
		return rec("vc:x", "PUT", "/dex/api/v1/resources/r/f", offset, dur)
	}
	tests := []struct {
		name string
		recs []cdesim.RequestRecord
		want int
	}{
		{"nothing", nil, 0},
		{"one after the other", []cdesim.RequestRecord{put(0, 10), put(20, 10), put(40, 10)}, 1},
		{"back to back does not overlap", []cdesim.RequestRecord{put(0, 10), put(10, 10)}, 1},
		{"all at once", []cdesim.RequestRecord{put(0, 100), put(1, 100), put(2, 100)}, 3},
		{"two waves of a bound of 2", []cdesim.RequestRecord{put(0, 50), put(0, 50), put(60, 50), put(60, 50)}, 2},
		{"other requests are not counted", []cdesim.RequestRecord{put(0, 100), rec("vc:x", "GET", "/dex/api/v1/resources/r", 0, 100)}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := maxConcurrent(tt.recs, isUpload); got != tt.want {
				t.Fatalf("maxConcurrent = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestBusySpans(t *testing.T) {
	tests := []struct {
		name       string
		recs       []cdesim.RequestRecord
		wantBusy   time.Duration
		wantRounds int
	}{
		{"nothing", nil, 0, 0},
		{"sequential calls are rounds of their own", []cdesim.RequestRecord{
			rec("controlplane", "POST", "/a", 0, 50), rec("controlplane", "POST", "/b", 60, 50), rec("controlplane", "POST", "/c", 120, 50),
		}, 150 * time.Millisecond, 3},
		{"overlapping calls are one round", []cdesim.RequestRecord{
			rec("vc:x", "PUT", "/1", 0, 100), rec("vc:x", "PUT", "/2", 10, 50), rec("vc:x", "PUT", "/3", 90, 30),
		}, 120 * time.Millisecond, 1},
		{"unsorted input", []cdesim.RequestRecord{
			rec("vc:x", "GET", "/late", 500, 50), rec("vc:x", "GET", "/early", 0, 50), rec("vc:x", "GET", "/mid", 25, 50),
		}, 125 * time.Millisecond, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			busy, rounds := busySpans(tt.recs)
			if busy != tt.wantBusy || rounds != tt.wantRounds {
				t.Fatalf("busySpans = %v, %d; want %v, %d", busy, rounds, tt.wantBusy, tt.wantRounds)
			}
		})
	}
}

func TestTimelineIsSortedAndRelative(t *testing.T) {
	got := timeline([]cdesim.RequestRecord{
		rec("vc:x", "GET", "/second", 75, 5),
		rec("controlplane", "POST", "/first", 25, 50),
	})
	want := "start_ms\tduration_ms\ttarget\tmethod\tpath\tstatus\n" +
		"0.0\t50.0\tcontrolplane\tPOST\t/first\t200\n" +
		"50.0\t5.0\tvc:x\tGET\t/second\t200\n"
	if got != want {
		t.Fatalf("timeline:\n%s\nwant:\n%s", got, want)
	}
	if timeline(nil) != "" {
		t.Error("timeline of no request is not empty")
	}
}
