package activities

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/witboost-community/cde-spark-provisioner/cde"
)

// A Retry-After reaches the activity retry as NextRetryDelay, capped so that a huge value cannot
// push the next attempt past the step's budget.
func TestClassifyCapsTheRetryAfterDelay(t *testing.T) {
	tests := []struct {
		retryAfter, want time.Duration
	}{
		{0, 0},
		{30 * time.Second, 30 * time.Second},
		{MaxRetryAfterDelay, MaxRetryAfterDelay},
		{2 * time.Hour, MaxRetryAfterDelay},
		{time.Duration(1<<63 - 1), MaxRetryAfterDelay},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.retryAfter), func(t *testing.T) {
			err := classify("list CDE services", fmt.Errorf("wrapped: %w", &cde.APIError{Op: "listServices", Method: http.MethodPost,
				URL: "/api/v1/de/listServices", Status: http.StatusServiceUnavailable, RetryAfter: tt.retryAfter}))
			appErr, ok := errors.AsType[*temporal.ApplicationError](err)
			if !ok {
				t.Fatalf("err = %v (%T)", err, err)
			}
			if appErr.NonRetryable() || appErr.Type() != ErrTypeTransient {
				t.Errorf("type %s, non-retryable %v", appErr.Type(), appErr.NonRetryable())
			}
			if got := appErr.NextRetryDelay(); got != tt.want {
				t.Errorf("NextRetryDelay = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestClassifyKeepsPermanentAndCanceledApart(t *testing.T) {
	err := classify("get job", &cde.APIError{Op: "getJob", Method: http.MethodGet, URL: "/jobs/j", Status: http.StatusForbidden, RetryAfter: time.Hour})
	if appErr, ok := errors.AsType[*temporal.ApplicationError](err); !ok || !appErr.NonRetryable() || appErr.Type() != ErrTypeAuth {
		t.Errorf("403: %v", err)
	}
	if err := classify("get job", fmt.Errorf("x: %w", context.Canceled)); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %v", err)
	}
}
