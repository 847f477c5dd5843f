package cde

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"
)

// Sentinel errors that callers branch on with errors.Is. An *APIError matches
// them by HTTP status or by Cloudera's error code; the lookup helpers wrap
// ErrNotFound when nothing matches a name.
var (
	ErrNotFound     = errors.New("not found")
	ErrConflict     = errors.New("conflict")
	ErrUnauthorized = errors.New("unauthorized")
	ErrForbidden    = errors.New("forbidden")
)

// ErrNoIDBroker is returned by IDBrokerHosts when the datalake has no
// "idbroker" instance group or that group has no private IP.
var ErrNoIDBroker = errors.New("no idbroker hosts")

// ErrMalformedResponse marks a 2xx answer that lacks what the operation
// must return (a describe without its object, a Knox answer without
// access_token); it is not transient.
var ErrMalformedResponse = errors.New("malformed response")

// maxErrorMessage bounds how much of a server's error text ends up in an
// error value: enough to diagnose, not enough to flood logs.
const maxErrorMessage = 1024

// APIError is a non-2xx answer of the CDP control plane, the Knox gateway or
// the CDE jobs API. It never holds credentials: URL is the request path only
// (no host, no query) and no header is kept except the request id.
type APIError struct {
	Op         string        // operation, e.g. "describeVc", "getJob", "knoxToken"
	Method     string        // HTTP method
	URL        string        // request path, e.g. "/api/v1/de/describeVc"
	Status     int           // HTTP status code
	Code       string        // Cloudera error code (e.g. "NOT_FOUND"), when the body has one
	Message    string        // server message, truncated
	RequestID  string        // x-altus-request-id (or X-Request-Id) response header
	RetryAfter time.Duration // from a Retry-After header (429/503), 0 when absent
}

// Error renders every field but never a credential (none is kept).
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cde: %s: %s %s: %d %s", e.Op, e.Method, e.URL, e.Status, http.StatusText(e.Status))
	if e.Code != "" {
		fmt.Fprintf(&b, " (%s)", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " [request id %s]", e.RequestID)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " [retry after %s]", e.RetryAfter)
	}
	return b.String()
}

// Is makes errors.Is(err, ErrNotFound) and friends work on an *APIError.
// The status decides; Cloudera's code is consulted too because the mapping of
// codes to statuses is not documented beyond NOT_FOUND → 404.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Status == http.StatusNotFound || e.Code == "NOT_FOUND"
	case ErrConflict:
		return e.Status == http.StatusConflict || e.Code == "ALREADY_EXISTS" || e.Code == "CONFLICT"
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized || e.Code == "UNAUTHENTICATED"
	case ErrForbidden:
		return e.Status == http.StatusForbidden || e.Code == "PERMISSION_DENIED"
	}
	return false
}

// Transient reports whether repeating the same request later may succeed:
// 408, 429 and 5xx. 401 and 403 never are: a wrong credential stays wrong.
func (e *APIError) Transient() bool {
	switch {
	case e.Status == http.StatusUnauthorized, e.Status == http.StatusForbidden:
		return false
	case e.Status == http.StatusRequestTimeout, e.Status == http.StatusTooManyRequests:
		return true
	case e.Status >= 500:
		return true
	}
	return false
}

// IsTransient reports whether err is worth retrying with backoff: 408, 429
// and 5xx answers, timeouts, connection errors and responses cut short
// (io.ErrUnexpectedEOF). It is false for nil, for a canceled context (the
// caller gave up), for TLS certificate failures (a configuration problem)
// and for every other API answer, 401 and 403 included.
func IsTransient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	if apiErr, ok := errors.AsType[*APIError](err); ok {
		return apiErr.Transient()
	}
	if isCertificateError(err) {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return true
	}
	for _, errno := range []syscall.Errno{syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED, syscall.EPIPE} {
		if errors.Is(err, errno) {
			return true
		}
	}
	if _, ok := errors.AsType[*net.OpError](err); ok {
		return true
	}
	if netErr, ok := errors.AsType[net.Error](err); ok && netErr.Timeout() {
		return true
	}
	if isHTTP2Transient(err) {
		return true
	}
	return false
}

// RetryAfter is the delay a 429/503 answer in err's chain asked for
// (Retry-After), or 0: a hint for the caller's backoff.
func RetryAfter(err error) time.Duration {
	if apiErr, ok := errors.AsType[*APIError](err); ok {
		return apiErr.RetryAfter
	}
	return 0
}

func isCertificateError(err error) bool {
	if _, ok := errors.AsType[*tls.CertificateVerificationError](err); ok {
		return true
	}
	if _, ok := errors.AsType[x509.UnknownAuthorityError](err); ok {
		return true
	}
	if _, ok := errors.AsType[x509.HostnameError](err); ok {
		return true
	}
	if _, ok := errors.AsType[x509.CertificateInvalidError](err); ok {
		return true
	}
	return false
}

// newAPIError builds an *APIError from a non-2xx response whose body has
// already been read (at most maxBody bytes). Cloudera's documented error
// body is {"code","message"}; {"error"} and {"errorMessages":[...]} are
// tolerated, and anything else (the VC API's error shape is undocumented,
// Knox sends plain text) becomes the message as text.
//
// secrets are the credentials the request carried (token, password, Basic
// or x-altus-auth value): a server or proxy that quotes the request in its
// error text must not put them into an error value, so they are replaced
// before the message is truncated (a cut could leave a prefix otherwise).
func newAPIError(op, method, path string, resp *http.Response, body []byte, now time.Time, secrets ...string) *APIError {
	e := &APIError{
		Op:         op,
		Method:     method,
		URL:        path,
		Status:     resp.StatusCode,
		RequestID:  requestID(resp.Header),
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), now),
	}
	var parsed struct {
		Code          any      `json:"code"`
		Message       string   `json:"message"`
		Error         any      `json:"error"`
		ErrorMessages []string `json:"errorMessages"`
	}
	if err := json.Unmarshal(body, &parsed); err == nil {
		e.Code = scalarString(parsed.Code)
		switch {
		case parsed.Message != "":
			e.Message = parsed.Message
		case scalarString(parsed.Error) != "":
			e.Message = scalarString(parsed.Error)
		case len(parsed.ErrorMessages) > 0:
			e.Message = strings.Join(parsed.ErrorMessages, "; ")
		}
	} else {
		e.Message = string(body)
	}
	e.Message = sanitizeMessage(redactSecrets(e.Message, secrets))
	return e
}

// minRedactedSecret is the shortest credential redactSecrets looks for:
// real ones are far longer (JWTs, x-altus-auth values, CDP workload
// passwords have a minimum length), while replacing a short value would
// garble ordinary words of the message ("tok" in "token").
const minRedactedSecret = 8

// redactSecrets replaces every occurrence of each secret in s.
func redactSecrets(s string, secrets []string) string {
	for _, secret := range secrets {
		if len(secret) >= minRedactedSecret {
			s = strings.ReplaceAll(s, secret, redacted)
		}
	}
	return s
}

// scalarString renders a JSON string or number (some servers send a numeric
// "code") and ignores objects.
func scalarString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return ""
}

// sanitizeMessage keeps an error message on one line and bounded.
func sanitizeMessage(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > maxErrorMessage {
		cut := maxErrorMessage
		for cut > 0 && !isRuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

func requestID(h http.Header) string {
	for _, k := range []string{"X-Altus-Request-Id", "X-Request-Id", "X-Cdp-Request-Id"} {
		if v := h.Get(k); v != "" {
			return v
		}
	}
	return ""
}

// parseRetryAfter accepts both forms of RFC 9110: delay seconds and an
// HTTP-date (relative to now). Garbage and past dates give 0.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		const maxSecs = int64(1<<63-1) / int64(time.Second)
		return time.Duration(min(secs, maxSecs)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// isHTTP2Transient recognises the HTTP/2 failures that say nothing about the request itself: a
// stream reset by the server or a proxy (RST_STREAM with REFUSED_STREAM, which guarantees the
// request was not processed, INTERNAL_ERROR, CANCEL or ENHANCE_YOUR_CALM, e.g. an ingress
// restarting), and a connection closed under the request (GOAWAY, lost). net/http's bundled
// HTTP/2 client keeps these error types unexported, so their text is what can be matched, e.g.
// "stream error: stream ID 3; INTERNAL_ERROR; received from peer".
func isHTTP2Transient(err error) bool {
	msg := err.Error()
	if strings.Contains(msg, "stream error: ") {
		for _, code := range []string{"REFUSED_STREAM", "INTERNAL_ERROR", "CANCEL", "ENHANCE_YOUR_CALM"} {
			if strings.Contains(msg, "; "+code) {
				return true
			}
		}
		return false // PROTOCOL_ERROR, FLOW_CONTROL_ERROR…: a bug, not a blip
	}
	return strings.Contains(msg, "http2: server sent GOAWAY") || strings.Contains(msg, "http2: client connection lost")
}
