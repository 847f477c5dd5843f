package cdesim_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/witboost-community/cde-spark-provisioner/cde/cdesim"
)

func TestPathsSentToTheWrongHostAreNotFound(t *testing.T) {
	e := newEnv(t, cdesim.Options{})
	dev := e.service(t, cdesim.DemoService)
	vcBase := strings.TrimSuffix(e.vc(t, cdesim.DemoService, cdesim.DemoVC).APIURL, "/dex/api/v1")
	tests := []struct {
		name, url string
	}{
		{"Knox path on the control plane", e.sim.ControlPlaneURL() + "/gateway/authtkn/knoxtoken/api/v1/token"},
		{"jobs API path on the Knox host", "https://" + dev.ClusterFqdn + "/dex/api/v1/jobs"},
		{"Knox path on the VC host", vcBase + "/gateway/authtkn/knoxtoken/api/v1/token"},
		{"control-plane path on the VC host", vcBase + "/api/v1/de/listServices"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, tt.url, nil)
			req.SetBasicAuth(cdesim.DemoUser, cdesim.DemoPassword)
			wantStatus(t, do(t, e.http, req), http.StatusNotFound)
		})
	}
}

func TestConcurrentClientsKeepConsistentState(t *testing.T) {
	e := newEnv(t, cdesim.Options{})
	api := e.devAPI(t)
	vcID := e.vc(t, cdesim.DemoService, cdesim.DemoVC).VCID
	const n = 12
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each goroutine reports instead of calling t.Fatal off the test goroutine.
			res := fmt.Sprintf("res-%d", i)
			if err := e.sim.AddResource(vcID, res, "files", ""); err != nil {
				errs <- err
				return
			}
			if err := e.sim.PutFile(vcID, res, "app.py", []byte(res)); err != nil {
				errs <- err
				return
			}
			job := fmt.Sprintf(`{"name":"job-%d","type":"spark","mounts":[{"resourceName":"%s"}],"spark":{"file":"app.py"}}`, i, res)
			req, _ := http.NewRequest(http.MethodPost, api.base+"/jobs", strings.NewReader(job))
			req.Header.Set("Authorization", "Bearer "+api.token)
			req.Header.Set("Content-Type", "application/json")
			resp, err := e.http.Do(req)
			if err != nil {
				errs <- err
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				errs <- fmt.Errorf("create job-%d: %d", i, resp.StatusCode)
			}
		}()
	}
	// Readers run alongside the writers.
	for range 5 {
		wantStatus(t, api.call(t, http.MethodGet, "/jobs?limit=100", nil), 200)
		wantStatus(t, api.call(t, http.MethodGet, "/resources?limit=100&includeFiles=true", nil), 200)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	r := api.call(t, http.MethodGet, "/jobs?limit=100", nil)
	if got := r.json(t)["meta"].(map[string]any)["count"]; got != float64(n) {
		t.Errorf("count %v, want %d", got, n)
	}
}

func TestAddingHostsAfterCloseFails(t *testing.T) {
	sim, err := cdesim.Start(context.Background(), cdesim.DemoSeed(), cdesim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := sim.AddService(context.Background(), cdesim.ServiceSeed{Name: "late"}); err == nil {
		t.Error("AddService after Close succeeded")
	}
	_, err = sim.AddVC(context.Background(), "cluster-dev00001", cdesim.VCSeed{Name: "late"})
	if err == nil || errors.Is(err, cdesim.ErrNotFound) {
		t.Errorf("AddVC after Close: %v", err)
	}
}
