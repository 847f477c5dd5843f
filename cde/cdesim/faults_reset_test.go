package cdesim_test

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"

	"github.com/witboost-community/cde-spark-provisioner/cde/cdesim"
)

// Reset drops the connection without an answer, over HTTP/1.1 and HTTP/2 alike.
func TestResetDropsTheConnection(t *testing.T) {
	sim := cdesim.StartForTest(t, cdesim.DemoSeed(), cdesim.Options{})
	vc, ok := sim.VC(cdesim.DemoService, cdesim.DemoVC)
	if !ok {
		t.Fatal("no demo VC")
	}
	h1 := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: sim.CertPool()}}}
	for name, hc := range map[string]*http.Client{"HTTP/1.1": h1, "HTTP/2": sim.Client()} {
		t.Run(name, func(t *testing.T) {
			sim.ResetRequests()
			sim.FailNext("GET /dex/api/v1/jobs/*", 1, cdesim.Failure{Reset: true})
			resp, err := hc.Get(vc.APIURL + "/jobs/x")
			if err == nil {
				resp.Body.Close()
				t.Fatalf("got %d, want a dropped connection", resp.StatusCode)
			}
			if !errors.Is(err, syscall.ECONNRESET) && !strings.Contains(err.Error(), "EOF") {
				t.Logf("error (neither ECONNRESET nor EOF, still a dropped connection): %v", err)
			}
			reqs := sim.Requests()
			if len(reqs) != 1 || reqs[0].Fault != "reset" || reqs[0].Status != 0 {
				t.Errorf("request log %+v", reqs)
			}
			// The next request gets through on a new connection (401: no token).
			resp, err = hc.Get(vc.APIURL + "/jobs/x")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("after the reset: %d", resp.StatusCode)
			}
		})
	}
}

// FailEachNext counts per method and path: every route fails its first n requests.
func TestFailEachNextFailsTheFirstRequestsOfEveryRoute(t *testing.T) {
	sim := cdesim.StartForTest(t, cdesim.DemoSeed(), cdesim.Options{})
	vc, _ := sim.VC(cdesim.DemoService, cdesim.DemoVC)
	hc := sim.Client()
	sim.FailEachNext("/*/**", 2, cdesim.Failure{Status: http.StatusBadGateway})
	defer sim.ClearFaults()
	var got []string
	for _, p := range []string{"/jobs/a", "/jobs/b", "/jobs/a", "/jobs/b", "/jobs/a", "/jobs/b"} {
		resp, err := hc.Get(vc.APIURL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got = append(got, fmt.Sprint(resp.StatusCode))
	}
	if want := "502,502,502,502,401,401"; strings.Join(got, ",") != want {
		t.Errorf("answers %s, want %s", strings.Join(got, ","), want)
	}
}
