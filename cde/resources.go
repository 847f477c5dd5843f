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
	r, err := escapeName("resource name", resource)
	if err != nil {
		return nil, err
	}
	p, err := escapePath("resource file path", filePath)
	if err != nil {
		return nil, err
	}
	var content []byte
	err = c.do(ctx, vcCall{op: "downloadFile", method: http.MethodGet, path: "/resources/" + r + "/" + p, raw: &content}, nil)
	return content, err
}

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
