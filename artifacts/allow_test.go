package artifacts

import (
	"strings"
	"testing"

	"github.com/witboost-community/cde-spark-provisioner/descriptor"
)

func loc(bucket, key string) descriptor.S3Location {
	return descriptor.S3Location{Bucket: bucket, Key: key}
}

func TestAllowlistExpandsItsPlaceholdersPerDataProduct(t *testing.T) {
	a, err := ParseAllowlist(" s3://artifacts/{domain}/{dataProduct}/ , s3://shared/libs/{environment}/,s3://public ")
	if err != nil {
		t.Fatal(err)
	}
	fin := Scope{Domain: "finance", DataProduct: "cashflow", Environment: "development"}
	hr := Scope{Domain: "hr", DataProduct: "payroll", Environment: "production"}
	for _, tt := range []struct {
		loc   descriptor.S3Location
		scope Scope
		want  bool
	}{
		{loc("artifacts", "finance/cashflow/0.1.0/app.jar"), fin, true},
		{loc("artifacts", "hr/payroll/0.1.0/app.jar"), fin, false}, // another data product's
		{loc("artifacts", "hr/payroll/0.1.0/app.jar"), hr, true},
		{loc("artifacts", "finance/cashflowx/app.jar"), fin, false}, // the slash ends the prefix
		{loc("artifacts", "finance/app.jar"), fin, false},
		{loc("shared", "libs/development/delta.jar"), fin, true},
		{loc("shared", "libs/production/delta.jar"), fin, false},
		{loc("public", "anything/at/all.jar"), hr, true},             // a bucket entry allows the bucket
		{loc("artifacts-2", "finance/cashflow/app.jar"), fin, false}, // buckets match exactly
		// A placeholder with no value allows nothing.
		{loc("artifacts", "finance//app.jar"), Scope{Domain: "finance"}, false},
		{loc("artifacts", "/cashflow/app.jar"), Scope{DataProduct: "cashflow"}, false},
	} {
		if got := a.Allows(tt.loc, tt.scope); got != tt.want {
			t.Errorf("Allows(%s, %+v) = %v, want %v", tt.loc, tt.scope, got, tt.want)
		}
	}
	if got := strings.Join(a.Prefixes(fin), " "); got != "s3://artifacts/finance/cashflow/ s3://shared/libs/development/ s3://public/" {
		t.Errorf("Prefixes = %s", got)
	}
	if got := a.Prefixes(Scope{}); len(got) != 1 || got[0] != "s3://public/" {
		t.Errorf("Prefixes without a data product = %v", got)
	}
	if !a.Restricts() || !a.Templated() {
		t.Error("a restricting, templated allowlist")
	}
}

func TestNoAllowlistAllowsEverything(t *testing.T) {
	for _, s := range []string{"", " ", " , "} {
		a, err := ParseAllowlist(s)
		if err != nil {
			t.Fatal(err)
		}
		if a.Restricts() || !a.Allows(loc("any", "key.jar"), Scope{}) {
			t.Errorf("%q restricts", s)
		}
	}
}

func TestAllowlistRefusesWhatItCannotMean(t *testing.T) {
	for in, want := range map[string]string{
		"artifacts/finance/":             "not an s3://bucket/prefix location",
		"s3:///finance/":                 "must be a bucket name",
		"s3://{domain}-artifacts/x/":     "must be a bucket name",
		"s3://artifacts/{team}/":         "unknown placeholder {team}",
		"s3://artifacts/{domain/":        "unbalanced braces",
		"s3://artifacts/domain}/":        "unbalanced braces",
		"s3://ok/, https://artifacts/x/": "not an s3://bucket/prefix location",
	} {
		_, err := ParseAllowlist(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseAllowlist(%q) = %v, want %q", in, err, want)
		}
	}
}

func TestAllowsPrefixOnlyWhenEveryKeyUnderItIsAllowed(t *testing.T) {
	a, err := ParseAllowlist("s3://artifacts/{domain}/{dataProduct}/,s3://public")
	if err != nil {
		t.Fatal(err)
	}
	fin := Scope{Domain: "finance", DataProduct: "cashflow", Environment: "development"}
	for _, tt := range []struct {
		name   string
		prefix descriptor.S3Location
		want   bool
	}{
		{"the entry's own prefix", loc("artifacts", "finance/cashflow/"), true},
		{"a folder under the entry", loc("artifacts", "finance/cashflow/imports/job-1/"), true},
		{"a parent of the entry holds other data products' keys", loc("artifacts", "finance/"), false},
		{"the entry without its slash also covers cashflowx/", loc("artifacts", "finance/cashflow"), false},
		{"the whole bucket of a prefixed entry", loc("artifacts", ""), false},
		{"another data product's folder", loc("artifacts", "hr/payroll/"), false},
		{"the whole bucket of a bucket entry", loc("public", ""), true},
		{"another bucket", loc("private", "finance/cashflow/"), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := a.AllowsPrefix(tt.prefix, fin); got != tt.want {
				t.Errorf("AllowsPrefix(%s) = %v, want %v", tt.prefix, got, tt.want)
			}
		})
	}
	if !(Allowlist{}).AllowsPrefix(loc("any", ""), fin) {
		t.Error("the zero Allowlist allows every prefix")
	}
}
