package api

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/witboost-community/cde-spark-provisioner/descriptor"
	"github.com/witboost-community/cde-spark-provisioner/internal/testsupport"
)

// These tests hold every decoding slot themselves, so what they check does not depend on how
// fast anything runs: while the slots are taken, /health answers, and a request for a slot waits
// (and gets a 503 after DecodeWait).

func newLimitedServer(t *testing.T, wait time.Duration) (*Server, *httptest.Server) {
	t.Helper()
	srv := New(Config{TaskQueue: "q", DecodeConcurrency: 2, DecodeWait: wait},
		testsupport.HealthyTemporal{Pollers: 1}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ts := httptest.NewServer(srv.Router()) // 127.0.0.1
	t.Cleanup(ts.Close)
	return srv, ts
}

// hold takes every decoding slot and returns the function that frees them.
func hold(srv *Server) (release func()) {
	for range cap(srv.decodeSlots) {
		srv.decodeSlots <- struct{}{}
	}
	return func() {
		for range cap(srv.decodeSlots) {
			<-srv.decodeSlots
		}
	}
}

// post sends yamlText to /v1/validate. It may run on goroutines other than the test's, hence
// assert rather than require.
func post(t *testing.T, url, yamlText string) (*http.Response, map[string]any) {
	t.Helper()
	body, err := json.Marshal(descriptor.Request{DescriptorKind: descriptor.ComponentDescriptor, Descriptor: yamlText})
	assert.NoError(t, err)
	resp, err := http.Post(url+"/v1/validate", "application/json", strings.NewReader(string(body)))
	if !assert.NoError(t, err) {
		return &http.Response{}, nil
	}
	defer resp.Body.Close()
	var out map[string]any
	assert.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return resp, out
}

func TestDecodeConcurrencyDefaultsToGOMAXPROCS(t *testing.T) {
	srv := New(Config{}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	assert.Positive(t, cap(srv.decodeSlots))
	assert.Equal(t, DefaultDecodeWait, srv.cfg.DecodeWait)
}

func TestHealthAnswersWhileEveryDecodingSlotIsTaken(t *testing.T) {
	srv, ts := newLimitedServer(t, time.Hour)
	release := hold(srv)
	defer func() {
		if release != nil {
			release()
		}
	}()

	// Four worst-case requests wait for a slot.
	worst := "x: [" + strings.Repeat("[],", descriptor.MaxDescriptorBytes/3-10) + "a]\n"
	var wg sync.WaitGroup
	codes := make([]int, 4)
	for i := range codes {
		wg.Go(func() {
			resp, body := post(t, ts.URL, worst)
			codes[i] = resp.StatusCode
			assert.Equal(t, false, body["valid"])
		})
	}

	client := &http.Client{Timeout: time.Minute} // a bound against a hang, not a timing assertion
	resp, err := client.Get(ts.URL + "/health")
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	release()
	release = nil
	wg.Wait()
	assert.Equal(t, []int{200, 200, 200, 200}, codes, "once slots free, the waiting requests are decoded (and refused with their problem)")
}

func TestARequestWaitingTooLongForADecodingSlotGetsA503(t *testing.T) {
	srv, ts := newLimitedServer(t, time.Millisecond)
	release := hold(srv)

	resp, body := post(t, ts.URL, "xxx")
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "1", resp.Header.Get("Retry-After"))
	assert.Contains(t, body["userMessage"], "busy decoding other descriptors")
	assert.Contains(t, body["error"], "no descriptor decoding slot freed within 1ms: 2 descriptors are being decoded (DECODE_CONCURRENCY)")
	mi := body["moreInfo"].(map[string]any)
	assert.NotEmpty(t, mi["problems"])
	assert.Contains(t, mi["solutions"], "Retry the same request in a few seconds.")

	release()
	resp, body = post(t, ts.URL, "xxx")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, false, body["valid"])
	assert.Empty(t, srv.decodeSlots, "every slot is given back")
}
