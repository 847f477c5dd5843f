package s3local

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/johannesboyne/gofakes3"
)

// S3 action names, as IAM policies spell them, that Denial understands. An action of a request
// the server does not recognise is "" and only a Denial without Action matches it.
const (
	ActionGetObject         = "s3:GetObject"
	ActionPutObject         = "s3:PutObject"
	ActionDeleteObject      = "s3:DeleteObject"
	ActionListBucket        = "s3:ListBucket"
	ActionListAllMyBuckets  = "s3:ListAllMyBuckets"
	ActionCreateBucket      = "s3:CreateBucket"
	ActionDeleteBucket      = "s3:DeleteBucket"
	ActionGetBucketLocation = "s3:GetBucketLocation"
)

// DefaultDeniedMessage is the message of S3's AccessDenied answers when the request is not
// explained further (what S3 long sent to every caller, and still sends across accounts).
const DefaultDeniedMessage = "Access Denied"

// Denial makes the server refuse requests as S3 refuses an action its policies do not allow:
// 403 with an AccessDenied error document (a HEAD answer has the status and headers only, as
// on S3). It follows the IAM rules a client sees:
//
//   - An object action (s3:GetObject, s3:PutObject, s3:DeleteObject) is denied on the objects
//     named by Key, whether they exist or not. HEAD and GET of an object are s3:GetObject.
//   - A bucket action (s3:ListBucket, ...) is denied on the bucket; Key must be empty. A listing
//     (GET /bucket) and HEAD /bucket are s3:ListBucket.
//   - Without s3:ListBucket, S3 does not reveal whether a key exists: a HEAD or GET of a
//     missing key of an existing bucket answers 403 AccessDenied instead of 404 NoSuchKey,
//     while an existing object is still served (s3:GetObject is a separate permission).
type Denial struct {
	// Bucket is the bucket whose requests are refused (required).
	Bucket string
	// Key names the objects of object actions: "" for every key of the bucket, a key, or a
	// prefix followed by "*" ("finance/*"), as in an IAM resource ARN.
	Key string
	// Action is the denied action (one of the Action constants), or "" for every action.
	Action string
	// Message is the error document's Message; DefaultDeniedMessage when empty. AWS explains
	// some denials ("User: ... is not authorized to perform: s3:GetObject on resource: ...";
	// see NotAuthorizedMessage).
	Message string
}

// NotAuthorizedMessage is the message AWS sends when it explains a denial to a caller of the
// bucket owner's account (principal is the caller's ARN, resource the bucket's or object's ARN,
// e.g. arn:aws:s3:::bucket/key).
func NotAuthorizedMessage(principal, action, resource string) string {
	return fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %q because no identity-based policy allows the %s action",
		principal, action, resource, action)
}

// Deny adds d to the refusals in force and returns a function that removes it (calling it again
// does nothing). Denials apply to every request, the seeding helpers' included. It panics when
// d has no Bucket or names a Key with a bucket action: a test that wrote either would test
// nothing.
func (s *Server) Deny(d Denial) (undo func()) {
	if d.Bucket == "" {
		panic("s3local: Deny: a denial needs a bucket")
	}
	if d.Key != "" && isBucketAction(d.Action) {
		panic(fmt.Sprintf("s3local: Deny: %s is a bucket action: it applies to the bucket, not to key %q", d.Action, d.Key))
	}
	p := &d
	s.denials.add(p)
	var once sync.Once
	return func() { once.Do(func() { s.denials.remove(p) }) }
}

// ClearDenials removes every denial.
func (s *Server) ClearDenials() { s.denials.clear() }

type denials struct {
	mu   sync.Mutex
	list []*Denial
}

func (ds *denials) add(d *Denial) {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	ds.list = append(ds.list, d)
}

func (ds *denials) remove(d *Denial) {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	ds.list = slices.DeleteFunc(ds.list, func(x *Denial) bool { return x == d })
}

func (ds *denials) clear() {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	ds.list = nil
}

// find returns the first denial of action on bucket/key, or nil.
func (ds *denials) find(bucket, key, action string) *Denial {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	for _, d := range ds.list {
		if d.matches(bucket, key, action) {
			return d
		}
	}
	return nil
}

func (d *Denial) matches(bucket, key, action string) bool {
	if d.Bucket != bucket || (d.Action != "" && d.Action != action) {
		return false
	}
	switch {
	case d.Key == "":
		return true
	case key == "":
		return false // a denial on objects does not cover the bucket itself
	case strings.HasSuffix(d.Key, "*"):
		return strings.HasPrefix(key, strings.TrimSuffix(d.Key, "*"))
	}
	return d.Key == key
}

func isBucketAction(action string) bool {
	switch action {
	case ActionListBucket, ActionCreateBucket, ActionDeleteBucket, ActionGetBucketLocation, ActionListAllMyBuckets:
		return true
	}
	return false
}

// actionOf names the S3 action of a path-style request, as IAM evaluates it.
func actionOf(r *http.Request, bucket, key string) string {
	q := r.URL.Query()
	switch {
	case bucket == "":
		if r.Method == http.MethodGet {
			return ActionListAllMyBuckets
		}
	case key == "":
		switch r.Method {
		case http.MethodGet:
			switch {
			case q.Has("location"):
				return ActionGetBucketLocation
			case q.Has("versions"), q.Has("uploads"), q.Has("versioning"), q.Has("acl"), q.Has("policy"):
				return "" // other actions (ListBucketVersions, ...), not modelled
			}
			return ActionListBucket
		case http.MethodHead:
			return ActionListBucket
		case http.MethodPut:
			if len(q) == 0 {
				return ActionCreateBucket
			}
		case http.MethodDelete:
			return ActionDeleteBucket
		case http.MethodPost:
			if q.Has("delete") {
				return ActionDeleteObject
			}
		}
	default:
		if q.Has("acl") || q.Has("tagging") || q.Has("retention") || q.Has("legal-hold") {
			return "" // object sub-resources, separate actions not modelled
		}
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			if q.Has("uploadId") {
				return "" // ListMultipartUploadParts
			}
			return ActionGetObject
		case http.MethodPut, http.MethodPost:
			return ActionPutObject
		case http.MethodDelete:
			if q.Has("uploadId") {
				return "" // AbortMultipartUpload
			}
			return ActionDeleteObject
		}
	}
	return ""
}

// splitPath splits a path-style request path into bucket and key.
func splitPath(r *http.Request) (string, string) {
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	return bucket, key
}

// guard answers the requests that a denial refuses and passes the others to next.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bucket, key := splitPath(r)
		action := actionOf(r, bucket, key)
		if d := s.denials.find(bucket, key, action); d != nil {
			writeAccessDenied(w, r, d)
			return
		}
		if action == ActionGetObject {
			// Without s3:ListBucket a missing key is not revealed: 403 instead of 404.
			if d := s.denials.find(bucket, "", ActionListBucket); d != nil && s.missingKey(bucket, key) {
				writeAccessDenied(w, r, d)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// missingKey reports whether the bucket exists and the key does not (a missing bucket stays a
// 404 NoSuchBucket: the existence of a bucket is no secret on S3).
func (s *Server) missingKey(bucket, key string) bool {
	if ok, err := s.backend.BucketExists(bucket); err != nil || !ok {
		return false
	}
	obj, err := s.backend.HeadObject(bucket, key)
	if err == nil {
		if obj != nil && obj.Contents != nil {
			obj.Contents.Close()
		}
		return false
	}
	return gofakes3.HasErrorCode(err, gofakes3.ErrNoSuchKey)
}

// accessDenied is S3's error document.
type accessDenied struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	RequestID string   `xml:"RequestId"`
	HostID    string   `xml:"HostId"`
}

func writeAccessDenied(w http.ResponseWriter, r *http.Request, d *Denial) {
	id := newRequestID()
	h := w.Header()
	h.Set("X-Amz-Request-Id", id)
	h.Set("X-Amz-Id-2", id+"-host")
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusForbidden) // a HEAD answer has no body: the status is all S3 says
		return
	}
	msg := d.Message
	if msg == "" {
		msg = DefaultDeniedMessage
	}
	body, err := xml.Marshal(accessDenied{Code: "AccessDenied", Message: msg, RequestID: id, HostID: id + "-host"})
	if err != nil {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	h.Set("Content-Type", "application/xml")
	w.WriteHeader(http.StatusForbidden)
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(body)
}

func newRequestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return strings.ToUpper(hex.EncodeToString(b))
}
