package cdesim

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// knoxHandler serves one service's Knox token endpoint (GET or POST, Basic
// auth with a workload user).
func (s *Sim) knoxHandler(svc *service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != knoxTokenPath {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			w.Header().Set("Allow", "GET, POST")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		s.mu.Lock()
		deleted := svc.status == StatusServiceDeleted
		s.mu.Unlock()
		if deleted {
			http.NotFound(w, r)
			return
		}
		user, pass, ok := r.BasicAuth()
		if !ok || !s.checkUser(user, pass) {
			w.Header().Set("WWW-Authenticate", `BASIC realm="application"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		ttl := s.opts.TokenTTL
		if ls := r.URL.Query().Get("lifespan"); ls != "" {
			d, err := parseISODuration(ls)
			if err != nil {
				http.Error(w, `{ "Unable to get token - invalid lifespan." }`, http.StatusBadRequest)
				return
			}
			ttl = min(ttl, d)
		}
		s.mu.Lock()
		tok, exp := s.issueTokenLocked(svc, user, ttl)
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{
			"access_token":         tok,
			"token_id":             newUUID(),
			"managed":              "false",
			"token_type":           "Bearer",
			"expires_in":           exp.UnixMilli(),
			"endpoint_public_cert": base64.StdEncoding.EncodeToString(s.ca.server.Certificate[0]),
		})
	})
}

func (s *Sim) checkUser(user, pass string) bool {
	s.mu.Lock()
	want, ok := s.users[user]
	s.mu.Unlock()
	return ok && subtle.ConstantTimeCompare([]byte(want), []byte(pass)) == 1
}

// issueTokenLocked mints an opaque JWT-shaped token; only this simulator's
// token table gives it meaning.
func (s *Sim) issueTokenLocked(svc *service, user string, ttl time.Duration) (string, time.Time) {
	now := s.now()
	exp := now.Add(ttl)
	hdr, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT"})
	claims, _ := json.Marshal(map[string]any{"sub": user, "iss": "KNOXSSO", "exp": exp.Unix(), "jti": randomHex(8)})
	enc := base64.RawURLEncoding
	tok := enc.EncodeToString(hdr) + "." + enc.EncodeToString(claims) + "." + enc.EncodeToString([]byte(randomHex(32)))
	s.tokens[tok] = &token{svc: svc, user: user, expires: exp}
	return tok, exp
}

// checkBearer validates the Authorization header for a VC of svc.
func (s *Sim) checkBearer(r *http.Request, svc *service) error {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if h == "" {
		return errors.New("missing Authorization header")
	}
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return errors.New("Authorization must be a Bearer token")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tokens[strings.TrimSpace(tok)]
	switch {
	case t == nil:
		return errors.New("invalid token")
	case !s.now().Before(t.expires):
		return errors.New("token expired")
	case t.svc != svc && !s.opts.TokensAcrossServices:
		return errors.New("token was not issued for this service")
	}
	return nil
}

var isoDuration = regexp.MustCompile(`^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$`)

// parseISODuration parses the subset of ISO-8601 durations Knox lifespans use
// (PnDTnHnMnS).
func parseISODuration(s string) (time.Duration, error) {
	m := isoDuration.FindStringSubmatch(s)
	if m == nil || s == "P" || s == "PT" {
		return 0, errors.New("invalid ISO-8601 duration")
	}
	units := []time.Duration{24 * time.Hour, time.Hour, time.Minute, time.Second}
	var d time.Duration
	for i, u := range units {
		if m[i+1] != "" {
			n, err := strconv.Atoi(m[i+1])
			if err != nil {
				return 0, err
			}
			d += time.Duration(n) * u
		}
	}
	return d, nil
}
