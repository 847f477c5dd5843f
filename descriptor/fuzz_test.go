package descriptor_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/witboost-community/cde-spark-provisioner/descriptor"
)

// referenceSanitise is the reference provisioner's sanitise: value.replaceAll("[^a-zA-Z0-9]", "-"),
// which, like Go's regexp, replaces one code point at a time.
var referenceSanitise = regexp.MustCompile(`[^a-zA-Z0-9]`)

// FuzzDecode checks that no input makes the decoder or the rules panic, and that every answer
// is usable: either a descriptor without problems, or problems that each have a field path, a
// message and a solution. Run it with `make fuzz` (go test -fuzz=FuzzDecode, FUZZTIME=60s).
func FuzzDecode(f *testing.F) {
	examples, err := filepath.Glob(filepath.Join("..", "examples", "*.yaml"))
	if err != nil || len(examples) == 0 {
		f.Fatalf("no examples to seed the corpus: %v", err)
	}
	for _, name := range examples {
		text, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(text))
	}
	f.Add(marshal(f, descriptorDoc()))
	for _, id := range componentIDs {
		doc := descriptorDoc()
		withComponentID(doc, id.id, id.env, id.jobName)
		f.Add(marshal(f, doc))
	}
	f.Add("dataProduct:\n  components:\n    - *x\n")
	f.Add("a: &a [*a]\n")
	f.Add("- 1\n- 2\n")
	f.Add("xxx")
	f.Add("")

	f.Fuzz(func(t *testing.T, text string) {
		d, problems := descriptor.Check(text)
		if d == nil && len(problems) == 0 {
			t.Fatalf("no descriptor and no problem for %q", text)
		}
		for _, p := range problems {
			if p.Field == "" || p.Message == "" || p.Solution == "" {
				t.Fatalf("incomplete problem %+v for %q", p, text)
			}
			if p.Line < 0 || p.Column < 0 {
				t.Fatalf("negative position %+v", p)
			}
		}
		if d != nil && len(problems) == 0 {
			if d.Component.Specific.Kind == "" {
				t.Fatalf("valid descriptor without job kind for %q", text)
			}
			// Every id the reference accepted is accepted (urn:dmb:cmp: and anything after it), with
			// the job name the reference required, computed here as the reference did.
			rest, ok := strings.CutPrefix(d.Component.ID, descriptor.ComponentIDPrefix)
			if !ok || rest == "" || d.Component.ID != d.ComponentID {
				t.Fatalf("valid descriptor with the component id %q for %q", d.Component.ID, text)
			}
			if want := referenceSanitise.ReplaceAllString(rest+"-"+d.DataProduct.Environment, "-"); d.Component.Specific.JobName != want {
				t.Fatalf("valid descriptor whose job name %q is not the reference's %q: %q", d.Component.Specific.JobName, want, text)
			}
			// What the API accepts, a workflow accepts after its input crossed Temporal as JSON.
			if ps := descriptor.Recheck(roundTrip(t, d)); len(ps) > 0 {
				t.Fatalf("Check accepted %q but Recheck refuses it: %v", text, ps)
			}
		}
	})
}
