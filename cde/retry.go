package cde

import (
	"context"
	"math/rand/v2"
	"net/http"
	"time"
)

// Defaults of RetryPolicy.
const (
	DefaultRetryAttempts      = 4
	DefaultRetryBaseDelay     = 150 * time.Millisecond
	DefaultRetryMaxDelay      = 2 * time.Second
	DefaultRetryMaxRetryAfter = 5 * time.Second
)

// RetryPolicy is how a client repeats one request that failed transiently
// (IsTransient: 408, 429, 5xx, connection resets and refusals, timeouts,
// answers cut short), inside a single call of its API. It is the fast inner
// layer: a CDE that answers the first requests of every route with 503 (a
// virtual cluster scaling) costs a few hundred milliseconds, not the
// activity retries' seconds per step. What it gives up on is returned as
// before, for the outer (Temporal activity) retry.
//
// Only requests that are safe to send twice are repeated (see the clients'
// documentation: GET, PUT, PATCH, DELETE, and POSTs that only read or whose
// callers handle 409), and a request body only when it can be produced again.
//
// The zero value is the default policy; RetryPolicy{Attempts: 1} (NoRetry)
// never repeats a request.
type RetryPolicy struct {
	// Attempts is the most times one request is sent, the first included.
	// 0 means DefaultRetryAttempts; 1 turns retries off.
	Attempts int
	// BaseDelay is the backoff before the second attempt; each later one
	// doubles it, up to MaxDelay. The wait is jittered: a random duration
	// between half the backoff and the whole of it. 0 means
	// DefaultRetryBaseDelay.
	BaseDelay time.Duration
	// MaxDelay caps one backoff. 0 means DefaultRetryMaxDelay.
	MaxDelay time.Duration
	// MaxRetryAfter is the longest Retry-After (seconds or HTTP date) that
	// is waited for here: the next attempt comes no sooner than the server
	// asked. A longer one ends the retries at once and the error (which
	// carries the delay, see RetryAfter) goes to the caller, whose own
	// retry honours it. 0 means DefaultRetryMaxRetryAfter.
	MaxRetryAfter time.Duration
	// Sleep waits d or until ctx ends, whichever is first, and then returns
	// ctx.Err(). nil means a timer. Tests inject one to see the delays.
	Sleep func(ctx context.Context, d time.Duration) error
}

// NoRetry sends every request once.
var NoRetry = RetryPolicy{Attempts: 1}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.Attempts <= 0 {
		p.Attempts = DefaultRetryAttempts
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = DefaultRetryBaseDelay
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = DefaultRetryMaxDelay
	}
	if p.MaxDelay < p.BaseDelay {
		p.MaxDelay = p.BaseDelay
	}
	if p.MaxRetryAfter <= 0 {
		p.MaxRetryAfter = DefaultRetryMaxRetryAfter
	}
	if p.Sleep == nil {
		p.Sleep = sleepContext
	}
	return p
}

func sleepContext(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// backoff is the jittered wait after the n-th failed attempt (n >= 1).
func (p RetryPolicy) backoff(n int) time.Duration {
	d := p.BaseDelay
	for i := 1; i < n && d < p.MaxDelay; i++ {
		d *= 2
	}
	d = min(d, p.MaxDelay)
	half := d / 2
	return half + rand.N(d-half+1)
}

// delay says how long to wait after the n-th failed attempt ended with err,
// and false when err must not be retried here: not transient, or a
// Retry-After above MaxRetryAfter.
func (p RetryPolicy) delay(n int, err error) (time.Duration, bool) {
	if !IsTransient(err) {
		return 0, false
	}
	wait := p.backoff(n)
	if ra := RetryAfter(err); ra > 0 {
		if ra > p.MaxRetryAfter {
			return 0, false
		}
		wait = max(wait, ra)
	}
	return wait, true
}

// run calls send until it succeeds or fails for good. Later attempts are
// made only when retryable is true, the error is transient, attempts are
// left, ctx is still live and its deadline leaves room for the wait;
// prepare, when not nil, runs before each later attempt (it rewinds or
// reopens a body) and its error ends the retries. The last error is
// returned as send returned it.
func (p RetryPolicy) run(ctx context.Context, retryable bool, send func() error, prepare func() error) error {
	p = p.withDefaults()
	for n := 1; ; n++ {
		err := send()
		if err == nil || !retryable || n >= p.Attempts || ctx.Err() != nil {
			return err
		}
		wait, ok := p.delay(n, err)
		if !ok {
			return err
		}
		if deadline, has := ctx.Deadline(); has && time.Until(deadline) <= wait {
			// The next attempt could not finish in time: the caller gets the
			// real cause rather than a deadline.
			return err
		}
		if p.Sleep(ctx, wait) != nil {
			return err
		}
		if prepare != nil {
			if perr := prepare(); perr != nil {
				return perr
			}
		}
	}
}

// idempotentMethod reports whether sending a request with this method twice
// has the effect of sending it once: RFC 9110's idempotent methods, plus
// PATCH, since every PATCH this package sends is a whole job document (the
// same body applied twice leaves the same job).
func idempotentMethod(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}
