package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
)

// Auth guards the Tech Adapter routes: a provisioner that can delete Spark jobs must not answer
// just anyone on the network. /health (and any route registered outside the protected group,
// such as /metrics) stays open for probes and scrapers. The zero value lets every call through;
// when both are set, a call needs both.
type Auth struct {
	// Token, when set, requires "Authorization: Bearer <token>" with the token of the file.
	Token *TokenFile
	// ClientCert requires a client certificate that the TLS layer verified against the client CA.
	// The TLS layer only verifies a certificate if one is given (tls.VerifyClientCertIfGiven), so
	// that Kubernetes probes, which cannot present one, still reach /health; this check is what
	// makes the certificate mandatory on the protected routes.
	ClientCert bool
	// ClientNames, when not empty, pins the client certificate's identity: its subject's common
	// name or one of its DNS names must be one of them (TLS_CLIENT_ALLOWED_NAMES). A verified
	// certificate of another identity gets a 403. Empty: any certificate the client CA issued.
	ClientNames []string
	// ClientCAStatus, when set, says whether the client CA can verify certificates right now
	// (nil) or what is wrong with its file. While it cannot, every call is refused, even on a
	// connection verified before the file went bad: trust is never kept past the file that grants
	// it.
	ClientCAStatus func() error
}

func (a Auth) enabled() bool { return a.Token != nil || a.ClientCert }

// realm names the protection space in WWW-Authenticate challenges.
const realm = `realm="cde-spark-provisioner"`

// refusal is why a call is refused: reason goes to the log, the rest to the answer. None of
// them holds the presented credential (a certificate's names are an identity, not a credential).
type refusal struct {
	status    int // 401, or 403 for a verified client certificate whose identity is not allowed
	reason    string
	challenge string // WWW-Authenticate; empty when only a client certificate is required
	body      SystemError
}

// authenticate refuses, with 401 (403 for a client certificate of an identity not allowed) and a
// SystemError, the calls that do not carry the configured credentials, and logs each refusal
// without the credential.
func (s *Server) authenticate(next http.Handler) http.Handler {
	a := s.cfg.Auth
	if !a.enabled() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ref, ok := a.check(r)
		if ok {
			next.ServeHTTP(w, r)
			return
		}
		route := chi.RouteContext(r.Context()).RoutePattern()
		s.log.Warn("call refused", "method", methodLabel(r.Method), "route", route, "remoteAddr", r.RemoteAddr,
			"reason", ref.reason, "requestID", middleware.GetReqID(r.Context()))
		if ref.challenge != "" {
			w.Header().Set("WWW-Authenticate", ref.challenge)
		}
		writeJSON(w, ref.status, ref.body)
	})
}

// check returns the refusal of a call, or ok. The client certificate comes first: it is
// already verified, and the cheaper of the two.
func (a Auth) check(r *http.Request) (refusal, bool) {
	bearer := ""
	if a.Token != nil {
		bearer = "Bearer " + realm
	}
	if a.ClientCert {
		if ref, ok := a.checkClientCert(r); !ok {
			ref.challenge = bearer
			if ref.status == http.StatusForbidden {
				ref.challenge = "" // authenticated, not allowed: a token would not help
			}
			return ref, false
		}
	}
	if a.Token == nil {
		return refusal{}, true
	}
	presented, problem := bearerToken(r)
	if problem != "" {
		return unauthorized(problem, bearer, systemError("authentication required: "+problem, notAuthenticated,
			"Configure the Witboost Coordinator to send 'Authorization: Bearer <token>' to this Tech Adapter, with the token of the provisioner's AUTH_TOKEN_FILE.")), false
	}
	switch a.Token.verify(presented) {
	case tokenAccepted:
		return refusal{}, true
	case tokenUnavailable:
		return unauthorized("the token file is unusable (see the error logged when it changed)", bearer,
			systemError("the provisioner has no usable token to check the call against", cannotAuthenticate,
				"The platform team must fix the provisioner's AUTH_TOKEN_FILE (its logs say what is wrong with it); calls are refused until then.")), false
	default:
		return unauthorized("wrong bearer token", bearer+`, error="invalid_token"`,
			systemError("the bearer token is not valid", notAuthenticated,
				"Send the current token of the provisioner's AUTH_TOKEN_FILE: after a rotation, the previous token is accepted only for AUTH_TOKEN_GRACE_PERIOD.")), false
	}
}

const (
	notAuthenticated   = "The CDE Spark provisioner refused the call: it is not authenticated."
	cannotAuthenticate = "The CDE Spark provisioner cannot authenticate calls right now."
)

func unauthorized(reason, challenge string, body SystemError) refusal {
	return refusal{status: http.StatusUnauthorized, reason: reason, challenge: challenge, body: body}
}

// checkClientCert refuses a call without a verified client certificate (401), any call while
// the client CA is unusable (401, fail closed), and a certificate whose identity is not one of
// ClientNames (403).
func (a Auth) checkClientCert(r *http.Request) (refusal, bool) {
	if a.ClientCAStatus != nil && a.ClientCAStatus() != nil {
		return unauthorized("the client CA file is unusable (see the error logged when it changed)", "",
			systemError("the provisioner has no usable client CA to verify the call's certificate against", cannotAuthenticate,
				"The platform team must fix the provisioner's TLS_CLIENT_CA_FILE (its logs say what is wrong with it); calls are refused until then.")), false
	}
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return unauthorized("no client certificate", "", systemError("a client certificate is required", notAuthenticated,
			"Configure the Witboost Coordinator to present, for this Tech Adapter, a client certificate issued by the CA of the provisioner's TLS_CLIENT_CA_FILE.")), false
	}
	if len(a.ClientNames) == 0 {
		return refusal{}, true
	}
	leaf := r.TLS.VerifiedChains[0][0]
	if allowedIdentity(leaf, a.ClientNames) {
		return refusal{}, true
	}
	identity := certIdentity(leaf)
	msg := "the client certificate's identity is not allowed: " + identity
	return refusal{status: http.StatusForbidden, reason: "client certificate identity not allowed: " + identity,
		body: systemError(msg, "The CDE Spark provisioner refused the call: its client certificate is not one the provisioner accepts.",
			"Present the client certificate issued for the Witboost Coordinator, or have the platform team add its common name or one of its DNS names to the provisioner's TLS_CLIENT_ALLOWED_NAMES.")}, false
}

// allowedIdentity tells whether the certificate's subject common name (exactly) or one of its
// DNS names (regardless of case, as DNS names compare) is one of names. Names are compared
// literally: a wildcard matches only the same wildcard.
func allowedIdentity(cert *x509.Certificate, names []string) bool {
	for _, n := range names {
		if cert.Subject.CommonName != "" && cert.Subject.CommonName == n {
			return true
		}
		for _, dns := range cert.DNSNames {
			if strings.EqualFold(dns, n) {
				return true
			}
		}
	}
	return false
}

// certIdentity names a certificate by its common name and DNS names, for the answer and the log.
func certIdentity(cert *x509.Certificate) string {
	dns := "none"
	if len(cert.DNSNames) > 0 {
		quoted := make([]string, len(cert.DNSNames))
		for i, d := range cert.DNSNames {
			quoted[i] = fmt.Sprintf("%q", d)
		}
		dns = strings.Join(quoted, ", ")
	}
	return fmt.Sprintf("common name %q, DNS names %s", cert.Subject.CommonName, dns)
}

// bearerToken returns the token of the Authorization header, or what is wrong with the header.
// The problem never quotes the header: whatever it holds may be a credential.
func bearerToken(r *http.Request) (token, problem string) {
	values := r.Header.Values("Authorization")
	switch len(values) {
	case 0:
		return "", "no Authorization header"
	case 1:
	default:
		return "", "more than one Authorization header"
	}
	scheme, token, _ := strings.Cut(strings.TrimSpace(values[0]), " ")
	if !strings.EqualFold(scheme, "Bearer") { // auth schemes are case-insensitive (RFC 9110 11.1)
		return "", "the Authorization header is not a Bearer credential"
	}
	if token = strings.TrimSpace(token); token == "" {
		return "", "the Authorization header is Bearer with no token"
	}
	return token, ""
}

// Token file limits: a bearer token is a short line; anything else in the file is a mistake
// (the wrong key of the Secret mounted, a weak hand-typed token) that must not silently pass.
const (
	maxTokenFileBytes = 16 << 10
	minTokenLength    = 16
	// tokenRereadInterval re-reads the file even when its stamp is unchanged, for file systems
	// whose modification times are too coarse to tell two writes of the same size apart.
	tokenRereadInterval = time.Minute
)

type tokenVerdict int

const (
	tokenRefused tokenVerdict = iota
	tokenAccepted
	tokenUnavailable
)

// TokenFile is the bearer token of the Coordinator, read from a file (a mounted Kubernetes
// Secret) and re-read when it changes, so a rotated token is accepted without a restart.
//
// Every check stats the file (a few microseconds, nothing next to a Temporal round trip) and
// reads it again only when it is another file (Kubernetes replaces a mounted Secret by swapping
// a symlink to a new directory, so the path resolves to a new inode), or its size or
// modification time changed, or it was last read tokenRereadInterval ago. The file is opened
// once per read and its stamp taken from the open file, so the stamp always belongs to the
// content read even while a swap is in progress.
//
// After a rotation the previous token stays valid for the grace period: each pod's kubelet
// refreshes mounted Secrets on its own schedule (a minute or more apart), and the Coordinator
// gets the new token through its own configuration, so for a while some calls still carry the
// old token; without the grace they would fail although nobody did anything wrong. The cost
// is bounded: a leaked old token lives on for at most the grace period after the rotation. A
// grace of 0 revokes the old token at once, and a restart forgets it (only the file's current
// token is read at start-up), which is the way to revoke a compromised token immediately.
//
// A missing, unreadable, empty or implausible file fails closed: every call is refused, the
// problem is logged once per change, and the previous token is forgotten too (a file that went
// bad in between is no rotation, and its previous token gets no grace).
//
// Tokens are compared as SHA-256 digests with subtle.ConstantTimeCompare, so the time of a
// comparison depends on neither the content nor the length of the presented token; the token
// itself is kept only as its digest.
type TokenFile struct {
	path  string
	grace time.Duration
	log   *slog.Logger
	now   func() time.Time // the clock of the grace period; tests replace it

	mu            sync.Mutex
	stamp         os.FileInfo // of the content last read; nil after a failed stat
	readAt        time.Time
	current       *[sha256.Size]byte // nil: no usable token, every call is refused
	previous      *[sha256.Size]byte
	previousUntil time.Time
	problem       string // the last problem logged, so that each is logged once per change
}

// NewTokenFile reads the token of path (see TokenFile). A problem with the file is logged, not
// returned: until the file is fixed, every call is refused.
func NewTokenFile(path string, grace time.Duration, logger *slog.Logger) *TokenFile {
	f := &TokenFile{path: path, grace: grace, log: logger, now: time.Now}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refresh()
	return f
}

// verify tells whether presented is the file's token, or the previous one within the grace
// period after a rotation.
func (f *TokenFile) verify(presented string) tokenVerdict {
	sum := sha256.Sum256([]byte(presented))
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refresh()
	if f.current == nil {
		return tokenUnavailable
	}
	// Both comparisons always run, so the timing does not tell which token matched.
	match := subtle.ConstantTimeCompare(sum[:], f.current[:])
	if f.previous != nil && f.now().Before(f.previousUntil) {
		match |= subtle.ConstantTimeCompare(sum[:], f.previous[:])
	}
	if match == 1 {
		return tokenAccepted
	}
	return tokenRefused
}

// refresh re-reads the file when it changed. f.mu is held.
func (f *TokenFile) refresh() {
	now := f.now()
	fi, err := os.Stat(f.path) // follows the symlinks of a mounted Secret
	if err != nil {
		f.fail(nil, fmt.Errorf("read bearer token file: %w", err))
		return
	}
	if f.stamp != nil && sameStamp(f.stamp, fi) && now.Sub(f.readAt) < tokenRereadInterval {
		return
	}
	token, fi, err := readTokenFile(f.path)
	if err != nil {
		f.fail(fi, err)
		return
	}
	f.stamp, f.readAt = fi, now
	sum := sha256.Sum256(token)
	if f.current != nil && *f.current == sum { // digests of the file's own content: no timing concern
		return
	}
	rotated := f.current != nil
	f.previous, f.previousUntil = f.current, now.Add(f.grace)
	f.current = &sum
	f.problem = ""
	if rotated {
		f.log.Info("bearer token rotated: the previous token stays valid for the grace period",
			"file", f.path, "gracePeriod", f.grace.String())
	} else {
		f.log.Info("bearer token loaded", "file", f.path)
	}
}

// fail makes every call refused until the file changes, and logs err once per change.
func (f *TokenFile) fail(fi os.FileInfo, err error) {
	f.stamp, f.readAt = fi, f.now()
	f.current, f.previous = nil, nil
	if msg := err.Error(); msg != f.problem {
		f.problem = msg
		f.log.Error("bearer token file unusable: every call to the Tech Adapter API is refused until it is fixed",
			"file", f.path, "error", msg)
	}
}

// readTokenFile returns the token of path without surrounding whitespace (a Secret created
// from a file often ends with a newline), and the stamp of the file it was read from. The
// errors describe the content without quoting it.
func readTokenFile(path string) ([]byte, os.FileInfo, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read bearer token file: %w", err)
	}
	defer file.Close()
	fi, err := file.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("read bearer token file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fi, errors.New("the bearer token file is not a regular file")
	}
	raw, err := io.ReadAll(io.LimitReader(file, maxTokenFileBytes+1))
	switch {
	case err != nil:
		return nil, fi, fmt.Errorf("read bearer token file: %w", err)
	case len(raw) > maxTokenFileBytes:
		return nil, fi, fmt.Errorf("the bearer token file holds more than %d bytes: it is not a token", maxTokenFileBytes)
	}
	token := []byte(strings.TrimSpace(string(raw)))
	switch {
	case len(token) == 0:
		return nil, fi, errors.New("the bearer token file is empty")
	case len(token) < minTokenLength:
		return nil, fi, fmt.Errorf("the bearer token is shorter than %d characters: generate one with `openssl rand -hex 32`", minTokenLength)
	}
	for _, c := range token {
		if c <= ' ' || c >= 0x7f {
			return nil, fi, errors.New("the bearer token holds whitespace or characters other than printable ASCII: an Authorization header cannot carry it")
		}
	}
	return token, fi, nil
}

// sameStamp tells whether two stats are of the same, unchanged file.
func sameStamp(a, b os.FileInfo) bool {
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}
