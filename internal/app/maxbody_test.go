package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sethvargo/go-envconfig"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/witboost-community/cde-spark-provisioner/api"
)

// TestMaxRequestBytesDefaultsToTheAPIsLimit checks that, MAX_REQUEST_BYTES unset, the API
// bounds bodies at api.DefaultMaxBodyBytes, the one place that default is written: a body of
// that size is read to its end, one byte more is a 413.
func TestMaxRequestBytesDefaultsToTheAPIsLimit(t *testing.T) {
	var cfg struct{ API APIConfig }
	require.NoError(t, envconfig.ProcessWith(context.Background(), &envconfig.Config{Target: &cfg, Lookuper: envconfig.MapLookuper(nil)}))
	srv, _, err := NewAPIServerWith(cfg.API, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	require.NoError(t, err)

	post := func(size int) *httptest.ResponseRecorder {
		// An unterminated string: the decoder reads the whole body before it fails.
		const head = `{"descriptor":"`
		body := head + strings.Repeat("x", size-len(head))
		w := httptest.NewRecorder()
		srv.Handler.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v1/provision", strings.NewReader(body)))
		return w
	}
	assert.Equal(t, http.StatusBadRequest, post(api.DefaultMaxBodyBytes).Code, "a body of the limit is read")
	tooBig := post(api.DefaultMaxBodyBytes + 1)
	assert.Equal(t, http.StatusRequestEntityTooLarge, tooBig.Code)
	assert.Contains(t, tooBig.Body.String(), fmt.Sprintf("request body above %d bytes", api.DefaultMaxBodyBytes))
}
