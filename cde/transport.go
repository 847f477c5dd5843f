package cde

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// maxResponseBody bounds what is read from one response: far above any
// job list page or description, small enough not to exhaust a worker.
const maxResponseBody = 32 << 20

// defaultHTTPClient is what a nil *http.Client means: http.DefaultTransport,
// whose TLS roots are the system pool. On Linux crypto/x509 also reads the
// SSL_CERT_FILE and SSL_CERT_DIR variables, which is how a private CA (the
// local simulator's, a corporate proxy's) is trusted. No timeout is set
// here: callers bound every call with their context or their own client.
func defaultHTTPClient(c *http.Client) *http.Client {
	if c != nil {
		return c
	}
	return &http.Client{}
}

// parseHTTPSBase validates a base URL. Plain http is refused because every
// request carries a credential (a signature, a password or a bearer token).
func parseHTTPSBase(what, raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(strings.TrimSpace(raw), "/"))
	if err != nil {
		return nil, fmt.Errorf("cde: %s %q is not a URL", what, raw)
	}
	if u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("cde: %s %q must be an https URL", what, raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("cde: %s must have no user info, query or fragment", what)
	}
	return u, nil
}

// readBody reads a whole (bounded) response body. A read error is returned
// as is so that IsTransient sees io.ErrUnexpectedEOF and connection resets.
func readBody(resp *http.Response) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxResponseBody {
		return nil, fmt.Errorf("response body larger than %d bytes", maxResponseBody)
	}
	return body, nil
}

// decodeJSON tolerates an empty body (a 2xx answer with nothing in it) by
// leaving out untouched.
func decodeJSON(body []byte, out any) error {
	if out == nil || len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		if errors.As(err, &syn) || errors.As(err, &typ) {
			// The body is not echoed: it may be an HTML error page of a
			// proxy, and for Knox it holds the token.
			return fmt.Errorf("%w: %w", ErrMalformedResponse, err)
		}
		return err
	}
	return nil
}

// drain lets the connection be reused, without reading an unbounded body.
func drain(body io.ReadCloser) {
	_, _ = io.CopyN(io.Discard, body, 64<<10)
	_ = body.Close()
}

// escapePath escapes each "/"-separated segment of a resource file path and
// refuses segments that would change the URL's meaning.
func escapePath(what, p string) (string, error) {
	if p == "" {
		return "", fmt.Errorf("cde: %s is empty", what)
	}
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if s == "" || s == "." || s == ".." {
			return "", fmt.Errorf("cde: %s %q has an empty, \".\" or \"..\" segment", what, p)
		}
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/"), nil
}

// escapeName escapes a job or resource name used as one path segment.
func escapeName(what, name string) (string, error) {
	if name == "" || name == "." || name == ".." || strings.Contains(name, "/") {
		return "", fmt.Errorf("cde: %s %q is not a valid name", what, name)
	}
	return url.PathEscape(name), nil
}
