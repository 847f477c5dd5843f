package artifacts

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/witboost-community/cde-spark-provisioner/descriptor"
)

// Allowlist is where artifacts may be read from (S3_ALLOWED_PREFIXES): S3 locations, each a
// bucket and a key prefix, in which {domain}, {dataProduct} and {environment} stand for the
// descriptor's dataProduct.domain, dataProduct.name and dataProduct.environment. The worker's
// role can read more than one team's artifacts; the allowlist keeps a descriptor from having the
// provisioner copy another team's objects into a resource its own job mounts.
//
// An artifact is allowed when its bucket is an entry's bucket and its key starts with the entry's
// prefix, expanded for the descriptor. An entry whose placeholder has no value for the descriptor
// (no domain, say) allows nothing. The zero Allowlist allows everything (no restriction).
type Allowlist struct {
	entries []allowEntry
}

type allowEntry struct {
	bucket, prefix string // prefix may hold placeholders
}

// Scope is what the placeholders of an Allowlist expand to: the data product of a descriptor.
type Scope struct {
	Domain      string `json:"domain,omitempty"`
	DataProduct string `json:"dataProduct,omitempty"`
	Environment string `json:"environment,omitempty"`
}

// ScopeOf is the scope of a descriptor's data product.
func ScopeOf(d *descriptor.Descriptor) Scope {
	return Scope{Domain: d.DataProduct.Domain, DataProduct: d.DataProduct.Name, Environment: d.DataProduct.Environment}
}

var (
	placeholder = regexp.MustCompile(`\{[^{}]*\}`)
	known       = map[string]bool{"{domain}": true, "{dataProduct}": true, "{environment}": true}
)

// ParseAllowlist parses a comma-separated list of s3://bucket/prefix entries ("" is the zero
// Allowlist). A bucket may not hold a placeholder; s3://bucket and s3://bucket/ allow the whole
// bucket. An entry that is not an S3 location, or names an unknown placeholder, is an error that
// names it: a typo must not silently allow nothing, or everything.
func ParseAllowlist(s string) (Allowlist, error) {
	var a Allowlist
	for raw := range strings.SplitSeq(s, ",") {
		entry := strings.TrimSpace(raw)
		if entry == "" {
			continue
		}
		rest, ok := strings.CutPrefix(entry, "s3://")
		if !ok {
			return Allowlist{}, fmt.Errorf("%q is not an s3://bucket/prefix location", entry)
		}
		bucket, prefix, _ := strings.Cut(rest, "/")
		if bucket == "" || strings.ContainsAny(bucket, "{}") {
			return Allowlist{}, fmt.Errorf("%q: the bucket must be a bucket name (placeholders go in the prefix)", entry)
		}
		for _, p := range placeholder.FindAllString(prefix, -1) {
			if !known[p] {
				return Allowlist{}, fmt.Errorf("%q: unknown placeholder %s (known: {domain}, {dataProduct}, {environment})", entry, p)
			}
		}
		if strings.Count(prefix, "{") != len(placeholder.FindAllString(prefix, -1)) || strings.Count(prefix, "}") != strings.Count(prefix, "{") {
			return Allowlist{}, fmt.Errorf("%q: unbalanced braces", entry)
		}
		a.entries = append(a.entries, allowEntry{bucket: bucket, prefix: prefix})
	}
	return a, nil
}

// Restricts says whether the allowlist has entries (the zero Allowlist allows everything).
func (a Allowlist) Restricts() bool { return len(a.entries) > 0 }

// Templated says whether an entry holds a placeholder.
func (a Allowlist) Templated() bool {
	for _, e := range a.entries {
		if strings.Contains(e.prefix, "{") {
			return true
		}
	}
	return false
}

// Prefixes are the entries expanded for scope, as s3:// locations; an entry whose placeholder has
// no value in scope is left out (it allows nothing).
func (a Allowlist) Prefixes(scope Scope) []string {
	var out []string
	for _, e := range a.entries {
		if p, ok := e.expand(scope); ok {
			out = append(out, "s3://"+e.bucket+"/"+p)
		}
	}
	return out
}

// Allows says whether loc may be read for a descriptor of scope.
func (a Allowlist) Allows(loc descriptor.S3Location, scope Scope) bool {
	if !a.Restricts() {
		return true
	}
	for _, e := range a.entries {
		if p, ok := e.expand(scope); ok && loc.Bucket == e.bucket && strings.HasPrefix(loc.Key, p) {
			return true
		}
	}
	return false
}

// AllowsPrefix says whether every key under prefix (its Key a key prefix, such as
// "imports/team-a/" of s3://bucket/imports/team-a/) is allowed for scope: an entry of the same
// bucket whose expanded prefix starts the given one. A prefix shorter than every entry is
// refused even if some keys under it would be allowed: an import writes anywhere under it.
func (a Allowlist) AllowsPrefix(prefix descriptor.S3Location, scope Scope) bool {
	// A key under prefix starts with prefix.Key, hence with any entry prefix that prefix.Key
	// starts with: the check of one location is the check of all of them.
	return a.Allows(prefix, scope)
}

// String renders the entries as configured.
func (a Allowlist) String() string {
	parts := make([]string, len(a.entries))
	for i, e := range a.entries {
		parts[i] = "s3://" + e.bucket + "/" + e.prefix
	}
	return strings.Join(parts, ",")
}

// expand fills the placeholders of the prefix; false when one has no value in scope.
func (e allowEntry) expand(scope Scope) (string, bool) {
	values := map[string]string{"{domain}": scope.Domain, "{dataProduct}": scope.DataProduct, "{environment}": scope.Environment}
	ok := true
	out := placeholder.ReplaceAllStringFunc(e.prefix, func(p string) string {
		v := values[p]
		if v == "" {
			ok = false
		}
		return v
	})
	return out, ok
}
