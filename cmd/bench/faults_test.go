package main

import (
	"crypto/tls"
	"net/http"
	"path"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/witboost-community/cde-spark-provisioner/cde/cdesim"
	"github.com/witboost-community/cde-spark-provisioner/descriptor"
)

func TestGlobEscapeMatchesExactlyThePath(t *testing.T) {
	for _, p := range []string{"/dex/api/v1/jobs/a-b", "/dex/api/v1/resources/r/x*.jar", "/a/[b]/c?d", `/back\slash`} {
		pat := globEscape(p)
		if ok, err := path.Match(pat, p); err != nil || !ok {
			t.Errorf("%q does not match %q: %v", pat, p, err)
		}
		for _, other := range []string{p + "x", strings.Replace(p, "/", "/z", 1)} {
			if ok, _ := path.Match(pat, other); ok {
				t.Errorf("%q matches %q too", pat, other)
			}
		}
	}
	if ok, _ := path.Match(globEscape("/x/*"), "/x/y"); ok {
		t.Error("an escaped * still matches any segment")
	}
}

func TestFaultRoutesAreTheDistinctPathsOfTheNextComponent(t *testing.T) {
	from, to := testJob("faults-c1", 0).JobName(), testJob("faults-f1", 0).JobName()
	res := descriptor.MainResourceName(from)
	recs := []cdesim.RequestRecord{
		{Method: "POST", Path: "/api/v1/de/listServices"},
		{Method: "POST", Path: "/api/v1/de/listServices"},
		{Method: "POST", Path: "/dex/api/v1/resources"},
		{Method: "PUT", Path: "/dex/api/v1/resources/" + res + "/app.jar"},
		{Method: "GET", Path: "/dex/api/v1/jobs/" + from},
		{Method: "PATCH", Path: "/dex/api/v1/jobs/" + from},
		{Method: "GET", Path: "/dex/api/v1/resources/" + descriptor.ManifestResourceName(from) + "/manifest.json"},
	}
	got := faultRoutes(recs, renames(from, to), "/gateway/authtkn/knoxtoken/api/v1/token")
	want := []string{
		"/api/v1/de/listServices",
		"/dex/api/v1/jobs/" + to,
		"/dex/api/v1/resources",
		"/dex/api/v1/resources/" + descriptor.MainResourceName(to) + "/app.jar",
		"/dex/api/v1/resources/" + descriptor.ManifestResourceName(to) + "/manifest.json",
		"/gateway/authtkn/knoxtoken/api/v1/token",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("routes\n got %q\nwant %q", got, want)
	}
	// Only whole segments are renamed.
	if p := renamePath("/dex/api/v1/jobs/"+from+"x", renames(from, to)); p != "/dex/api/v1/jobs/"+from+"x" {
		t.Errorf("renamed part of a segment: %s", p)
	}
}

func TestFaultCoverageReadsTheRequestLog(t *testing.T) {
	t0 := time.Now()
	rec := func(ms int, p string, fault string) cdesim.RequestRecord {
		status := 200
		if fault != "" {
			status = 503
		}
		return cdesim.RequestRecord{Time: t0.Add(time.Duration(ms) * time.Millisecond), Path: p, Status: status, Fault: fault}
	}
	recs := []cdesim.RequestRecord{
		// /a: two 503s then the answer, logged out of order.
		rec(30, "/a", ""), rec(0, "/a", "fail"), rec(10, "/a", "fail"),
		// /b: only one 503 before its answer: not covered.
		rec(0, "/b", "fail"), rec(5, "/b", ""),
		// /c: called without a rule.
		rec(0, "/c", ""),
		// /e: latency and fail.
		rec(0, "/e", "latency+fail"), rec(1, "/e", "latency+fail"), rec(2, "/e", "latency"),
	}
	covered, injected, uncovered, unused := faultCoverage(recs, []string{"/a", "/b", "/d", "/e"})
	if covered != 2 || injected != 5 || !reflect.DeepEqual(uncovered, []string{"/c"}) || !reflect.DeepEqual(unused, []string{"/d"}) {
		t.Errorf("covered %d, injected %d, uncovered %q, unused %q", covered, injected, uncovered, unused)
	}
}

// TestFailNextPerPathThroughTheSimulator checks, on a real simulator, that one FailNext(path, 2)
// per path gives each path its own two failures, where one glob would give two in all.
func TestFailNextPerPathThroughTheSimulator(t *testing.T) {
	sim, err := cdesim.Start(t.Context(), cdesim.DemoSeed(), cdesim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	knox, err := knoxTokenPath(sim)
	if err != nil || knox != "/gateway/authtkn/knoxtoken/api/v1/token" {
		t.Fatalf("knox path %q, %v", knox, err)
	}
	vc, _ := sim.VC(cdesim.DemoService, cdesim.DemoVC)
	httpc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: sim.CertPool()}}}
	base, _, _ := strings.Cut(vc.APIURL, "/dex/")
	paths := []string{"/dex/api/v1/jobs/a", "/dex/api/v1/jobs/b", "/dex/api/v1/resources"}
	for _, p := range paths {
		sim.FailNext(globEscape(p), faultsPerRoute, cdesim.Failure{})
	}
	for range 3 {
		for _, p := range paths {
			resp, err := httpc.Get(base + p)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
	}
	covered, injected, uncovered, _ := faultCoverage(sim.Requests(), paths)
	if covered != len(paths) || injected != len(paths)*faultsPerRoute || len(uncovered) > 0 {
		t.Errorf("covered %d, injected %d, uncovered %q; log %+v", covered, injected, uncovered, sim.Requests())
	}
}
