package cde

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"path"
	"strings"
	"sync"
	"sync/atomic"
)

// GetResource returns the resource name with its files; a missing resource
// is an *APIError matching ErrNotFound.
func (c *JobsClient) GetResource(ctx context.Context, name string) (*Resource, error) {
	p, err := escapeName("resource name", name)
	if err != nil {
		return nil, err
	}
	var res Resource
	call := vcCall{op: "getResource", method: http.MethodGet, path: "/resources/" + p, query: url.Values{"includeFiles": {"true"}}}
	if err := c.do(ctx, call, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// CreateResource creates a files or python-env resource (POST /resources).
// An existing name gives an *APIError matching ErrConflict (409).
func (c *JobsClient) CreateResource(ctx context.Context, req CreateResourceRequest) error {
	if _, err := escapeName("resource name", req.Name); err != nil {
		return err
	}
	if req.Type == "" {
		return errors.New("cde: createResource: the resource type is empty")
	}
	return c.do(ctx, vcCall{op: "createResource", method: http.MethodPost, path: "/resources", jsonBody: req, createSafe: true}, nil)
}

// DeleteResource deletes the resource name and its files; a missing
// resource matches ErrNotFound.
func (c *JobsClient) DeleteResource(ctx context.Context, name string) error {
	p, err := escapeName("resource name", name)
	if err != nil {
		return err
	}
	return c.do(ctx, vcCall{op: "deleteResource", method: http.MethodDelete, path: "/resources/" + p}, nil)
}

// DeleteResourceFile removes one file (filePath, "/"-separated) from the
// resource; a missing file matches ErrNotFound.
func (c *JobsClient) DeleteResourceFile(ctx context.Context, resource, filePath string) error {
	r, err := escapeName("resource name", resource)
	if err != nil {
		return err
	}
	p, err := escapePath("resource file path", filePath)
	if err != nil {
		return err
	}
	return c.do(ctx, vcCall{op: "deleteResourceFile", method: http.MethodDelete, path: "/resources/" + r + "/" + p}, nil)
}

// DownloadSmallFile returns the content of one file of the resource (GET
// /resources/{resource}/{filePath}). It is meant for small files such as the
// provisioner's own bookkeeping: answers above the client's response limit are
// an error rather than a large allocation. A missing file matches ErrNotFound.
func (c *JobsClient) DownloadSmallFile(ctx context.Context, resource, filePath string) ([]byte, error) {
	call, err := fileCall("downloadFile", resource, filePath)
	if err != nil {
		return nil, err
	}
	var content []byte
	call.raw = &content
	err = c.do(ctx, call, nil)
	return content, err
}

// OpenResourceFile streams one file of the resource (GET
// /resources/{resource}/{filePath}), of any size: the caller reads the body
// and closes it. size is the answer's Content-Length, -1 when the server sent
// none; a body that ends short of it, or is cut off, fails its Read with an
// error matching io.ErrUnexpectedEOF (IsTransient): the caller retries by
// opening the file again. The request itself is retried like any GET (401,
// transient failures); the body is bounded by ctx, not by the client's
// Timeout (it goes through the transfer client, like an upload). A missing
// resource or file matches ErrNotFound.
func (c *JobsClient) OpenResourceFile(ctx context.Context, resource, filePath string) (io.ReadCloser, int64, error) {
	call, err := fileCall("openResourceFile", resource, filePath)
	if err != nil {
		return nil, 0, err
	}
	// The request goes through do and send like every other, on a copy of
	// the client whose transfer transport takes the body of the 2xx answer
	// before send would read it whole: send then sees an empty success.
	hand := &handOff{op: call.op}
	streaming := *c
	streaming.transfer = hand.client(c.transfer)
	var empty []byte
	call.raw, call.transfer = &empty, true
	if err := streaming.do(ctx, call, nil); err != nil {
		hand.discard()
		return nil, 0, err
	}
	if hand.got == nil {
		return nil, 0, fmt.Errorf("cde: %s: no answer body", call.op)
	}
	return hand.got, hand.got.size, nil
}

// handOff is an http.RoundTripper that keeps the body of a 2xx answer for
// the caller and gives the client an empty one in its place. The attempts of
// one call are sequential, and only the last can succeed.
type handOff struct {
	op   string
	next http.RoundTripper
	got  *streamedBody
}

func (h *handOff) client(hc *http.Client) *http.Client {
	c := *hc
	h.next = c.Transport
	if h.next == nil {
		h.next = http.DefaultTransport
	}
	c.Transport = h
	return &c
}

func (h *handOff) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := h.next.RoundTrip(req)
	if err != nil || resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp, err
	}
	h.discard()
	h.got = &streamedBody{op: h.op, body: resp.Body, size: resp.ContentLength}
	resp.Body = http.NoBody
	return resp, nil
}

// discard closes a body that is not handed to the caller.
func (h *handOff) discard() {
	if h.got != nil {
		_ = h.got.Close()
		h.got = nil
	}
}

// fileCall is the GET of one resource file, its path segments escaped.
func fileCall(op, resource, filePath string) (vcCall, error) {
	r, err := escapeName("resource name", resource)
	if err != nil {
		return vcCall{}, err
	}
	p, err := escapePath("resource file path", filePath)
	if err != nil {
		return vcCall{}, err
	}
	return vcCall{op: op, method: http.MethodGet, path: "/resources/" + r + "/" + p}, nil
}

// streamedBody is the body of a 2xx answer handed to the caller unread. Its
// read errors name the call, so that a cut-off download says what was cut.
type streamedBody struct {
	op   string
	body io.ReadCloser
	size int64
}

func (b *streamedBody) Read(p []byte) (int, error) {
	n, err := b.body.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("cde: %s: read body: %w", b.op, err)
	}
	return n, err
}

func (b *streamedBody) Close() error { return b.body.Close() }

// UploadFileFrom is UploadFile for content that can be opened again, such as an object in S3:
// open is called for the first attempt, and again for each later one: after a refused token
// (401), and after a transient failure when the JobsClient's RetryPolicy allows another
// attempt. So the upload is retried without a probe request beforehand (UploadFile must make
// one for a plain reader, which cannot be sent twice). When open fails for a later attempt, its
// error is returned as it is (after a 401: the 401). Every opened reader is closed before
// UploadFileFrom returns.
func (c *JobsClient) UploadFileFrom(ctx context.Context, resource, filePath string, open func() (io.ReadCloser, error), size int64) error {
	const op = "uploadFile"
	r, err := escapeName("resource name", resource)
	if err != nil {
		return err
	}
	p, err := escapePath("resource file path", filePath)
	if err != nil {
		return err
	}
	head, tail, contentType, err := multipartFraming(path.Base(filePath), partContentType(filePath))
	if err != nil {
		return fmt.Errorf("cde: %s: %w", op, err)
	}
	current, err := open()
	if err != nil {
		return err
	}
	defer func() { current.Close() }()
	call := vcCall{
		op:            op,
		method:        http.MethodPut,
		path:          "/resources/" + r + "/" + p,
		contentType:   contentType,
		contentLength: -1,
		transfer:      true,
		newBody: func() io.Reader {
			return &guardedReader{r: io.MultiReader(bytes.NewReader(head), current, bytes.NewReader(tail))}
		},
		rewind: func() error {
			current.Close()
			next, err := open()
			if err != nil {
				current = io.NopCloser(bytes.NewReader(nil))
				return err
			}
			current = next
			return nil
		},
	}
	if size >= 0 {
		call.contentLength = int64(len(head)) + size + int64(len(tail))
	}
	return c.do(ctx, call, nil)
}

// UploadFile stores content as filePath ("/"-separated, e.g. "app.jar" or
// "lib/dep.jar") in the resource: PUT /resources/{resource}/{filePath},
// multipart/form-data with one part "file".
//
// content is streamed, never held in memory, and not read any more once
// UploadFile has returned. size is its length in bytes when known (the
// request then has a Content-Length and a short read is an error) or -1
// (chunked transfer).
//
// A refused token (401) is refreshed and the upload sent once more, and a
// transient failure is retried (RetryPolicy), when content is an io.Seeker
// (it is rewound to where it was). A plain reader cannot be sent twice: its
// upload is never retried here, and its token is first proven with a small
// GET of the resource (which also turns a missing resource into
// ErrNotFound before any content is read).
func (c *JobsClient) UploadFile(ctx context.Context, resource, filePath string, content io.Reader, size int64) error {
	const op = "uploadFile"
	r, err := escapeName("resource name", resource)
	if err != nil {
		return err
	}
	p, err := escapePath("resource file path", filePath)
	if err != nil {
		return err
	}
	if content == nil {
		return fmt.Errorf("cde: %s: content is nil", op)
	}
	head, tail, contentType, err := multipartFraming(path.Base(filePath), partContentType(filePath))
	if err != nil {
		return fmt.Errorf("cde: %s: %w", op, err)
	}
	call := vcCall{
		op:            op,
		method:        http.MethodPut,
		path:          "/resources/" + r + "/" + p,
		contentType:   contentType,
		contentLength: -1,
		transfer:      true,
		newBody: func() io.Reader {
			return &guardedReader{r: io.MultiReader(bytes.NewReader(head), content, bytes.NewReader(tail))}
		},
	}
	if size >= 0 {
		call.contentLength = int64(len(head)) + size + int64(len(tail))
	}
	// Remember where content starts so that a retry after a 401 can resend
	// it from there.
	seeker, _ := content.(io.Seeker)
	start := int64(-1)
	if seeker != nil {
		if start, err = seeker.Seek(0, io.SeekCurrent); err != nil {
			seeker = nil
		}
	}
	if seeker == nil {
		probe := vcCall{op: op, method: http.MethodGet, path: "/resources/" + r, query: url.Values{"includeFiles": {"false"}}}
		if err := c.do(ctx, probe, nil); err != nil {
			return err
		}
	}
	if seeker != nil {
		// Without a rewind the content is sent once: no retry after a 401
		// or a transient failure (the caller's retry opens it anew).
		call.rewind = func() error {
			_, err := seeker.Seek(start, io.SeekStart)
			return err
		}
	}
	return c.do(ctx, call, nil)
}

// multipartFraming returns the bytes that go before and after the file
// content in a one-part multipart/form-data body, and the request's
// Content-Type. mime/multipart writes the framing; the content itself is
// spliced in between by an io.MultiReader, which streams it without an
// io.Pipe goroutine, lets an error of content reach the caller unchanged
// and makes the total length computable for a Content-Length.
func multipartFraming(fileName, partType string) (head, tail []byte, contentType string, err error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	h := make(textproto.MIMEHeader)
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename="%s"`, escapeQuotes(fileName)))
	h.Set("Content-Type", partType)
	if _, err := mw.CreatePart(h); err != nil {
		return nil, nil, "", err
	}
	head = bytes.Clone(buf.Bytes())
	buf.Reset()
	if err := mw.Close(); err != nil {
		return nil, nil, "", err
	}
	return head, bytes.Clone(buf.Bytes()), mw.FormDataContentType(), nil
}

var quoteEscaper = strings.NewReplacer("\\", "\\\\", `"`, "\\\"")

func escapeQuotes(s string) string { return quoteEscaper.Replace(s) }

// partContentType follows witboost, whose uploads are known to work:
// application/java-archive for jars, text/plain for everything else.
func partContentType(filePath string) string {
	if strings.EqualFold(path.Ext(filePath), ".jar") {
		return "application/java-archive"
	}
	return "text/plain"
}

// guardedReader is the body of one upload attempt. After stop it refuses
// to read, and stop waits for a Read in progress, so that the content is
// never read by a finished attempt. Close (called by the transport,
// possibly concurrently with Read) only marks it closed.
type guardedReader struct {
	mu     sync.Mutex // held during a Read of r
	r      io.Reader
	closed atomic.Bool
}

var errAttemptOver = errors.New("cde: upload attempt is over")

func (g *guardedReader) Read(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed.Load() {
		return 0, errAttemptOver
	}
	return g.r.Read(p)
}

func (g *guardedReader) Close() error {
	g.closed.Store(true)
	return nil
}

func (g *guardedReader) stop() {
	g.closed.Store(true)
	g.mu.Lock()
	defer g.mu.Unlock()
}
