package descriptor_test

import (
	"crypto/md5"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/witboost-community/cde-spark-provisioner/descriptor"
)

// withComponentID gives the workload of doc the id (componentIdToProvision included), the
// environment and the job name.
func withComponentID(doc map[string]any, id, env, jobName string) {
	workload(doc)["id"] = id
	doc["componentIdToProvision"] = id
	dataProduct(doc)["environment"] = env
	specific(doc)["jobName"] = jobName
}

// TestComponentsOfTheReferenceProvisionerAreAccepted: every component id the reference
// accepted is accepted with the job name the reference required (so a job keeps its name when
// its team switches provisioners), by Check, CheckUnprovision and the workflows' Recheck; any
// other job name is "Job name not valid", naming the expected one; the ids the reference refused
// are one clear problem at the id, for provision and unprovision alike.
func TestComponentsOfTheReferenceProvisionerAreAccepted(t *testing.T) {
	for _, tt := range componentIDs {
		if tt.id == "" {
			continue // componentIdToProvision missing: TestDecodeProblems
		}
		t.Run(tt.name, func(t *testing.T) {
			if tt.jobName == "" {
				doc := descriptorDoc()
				withComponentID(doc, tt.id, tt.env, "finance-cashflow-0-spark-wl-development")
				for _, check := range []func() (*descriptor.Descriptor, descriptor.Problems){
					func() (*descriptor.Descriptor, descriptor.Problems) { return descriptor.Check(marshal(t, doc)) },
					request(marshal(t, doc)).CheckUnprovision,
				} {
					_, problems := check()
					require.Len(t, problems, 1, "%v", problems)
					assert.Equal(t, wl+"id", problems[0].Field)
					assert.Equal(t, "The component id '"+tt.id+"' is not a component id: it must start with urn:dmb:cmp: followed by the rest of the id", problems[0].Message)
					assert.NotEmpty(t, problems[0].Solution)
				}
				return
			}

			doc := descriptorDoc()
			withComponentID(doc, tt.id, tt.env, tt.jobName)
			d, problems := descriptor.Check(marshal(t, doc))
			require.Empty(t, problems)
			assert.Equal(t, tt.id, d.ComponentID)
			assert.Equal(t, tt.id, d.Component.ID)
			assert.Equal(t, tt.jobName, d.Component.Specific.JobName)
			assert.Equal(t, "mainres-"+md5Hex(tt.jobName), descriptor.MainResourceName(d.Component.Specific.JobName), "the reference's resource too")
			assert.Empty(t, descriptor.Recheck(roundTrip(t, d)))
			assert.Empty(t, descriptor.RecheckUnprovision(roundTrip(t, d)))
			_, problems = request(marshal(t, doc)).CheckUnprovision()
			assert.Empty(t, problems)

			// Any other name is refused with the reference's message, for unprovision too.
			for _, other := range []string{tt.jobName + "x", strings.ToUpper(tt.jobName), "jn"} {
				if other == tt.jobName {
					continue
				}
				specific(doc)["jobName"] = other
				_, problems = descriptor.Check(marshal(t, doc))
				require.Len(t, problems, 1, "%v", problems)
				assert.Equal(t, wl+"specific.jobName", problems[0].Field)
				assert.True(t, strings.HasPrefix(problems[0].Message, "Job name not valid: expected \""+tt.jobName+"\""), problems[0].Message)
				assert.Equal(t, "Set specific.jobName to \""+tt.jobName+"\".", problems[0].Solution)
				_, unprov := request(marshal(t, doc)).CheckUnprovision()
				assert.Equal(t, problems, unprov)
			}
		})
	}
}

// TestPyMirror: absent, null, empty or blank means no mirror (PyPI), as the reference decoded a
// null; a mirror that is set must be an http(s) URL and needs a requirements file.
func TestPyMirror(t *testing.T) {
	const mirror = "https://pypi.example.com/simple"
	tests := []struct {
		name   string
		yaml   string // the pyMirror line of a PySpark job with a requirements file; "" for none
		env    bool   // with requirementsFile
		want   *string
		field  string // the problem's field, "" when valid
		prefix string
	}{
		{"absent", "", true, nil, "", ""},
		{"null", "pyMirror: null", true, nil, "", ""},
		{"tilde", "pyMirror: ~", true, nil, "", ""},
		{"no value after the key", "pyMirror:", true, nil, "", ""},
		{"empty string", `pyMirror: ""`, true, nil, "", ""},
		{"blank string", `pyMirror: "  "`, true, nil, "", ""},
		{"set", "pyMirror: " + mirror, true, ptr(mirror), "", ""},
		{"null without a requirements file", "pyMirror: null", false, nil, "", ""},
		{"empty without a requirements file", `pyMirror: ""`, false, nil, "", ""},
		{"set but not a URL", "pyMirror: pypi.example.com", true, nil, "specific.pyMirror", "pyMirror must be the http(s) URL"},
		{"set without a requirements file", "pyMirror: " + mirror, false, nil, "specific.pyMirror", "pyMirror is set but requirementsFile is not"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := pySparkText(tt.env, tt.yaml)
			d, problems := descriptor.Check(text)
			if tt.field != "" {
				require.Len(t, problems, 1, "%v", problems)
				assert.Equal(t, "dataProduct.components[0]."+tt.field, problems[0].Field)
				assert.True(t, strings.HasPrefix(problems[0].Message, tt.prefix), problems[0].Message)
				return
			}
			require.Empty(t, problems)
			kind := descriptor.PySpark
			if tt.env {
				kind = descriptor.PySparkWithEnv
			}
			assert.Equal(t, kind, d.Component.Specific.Kind)
			assert.Equal(t, tt.want, d.Component.Specific.PyMirror)
			assert.Empty(t, descriptor.Recheck(roundTrip(t, d)))
		})
	}

	// A workflow started with an empty mirror (from before this rule, or directly on Temporal)
	// is not refused either.
	d, problems := descriptor.Check(pySparkText(true, ""))
	require.Empty(t, problems)
	d = roundTrip(t, d)
	d.Component.Specific.PyMirror = ptr("")
	assert.Empty(t, descriptor.Recheck(d))

	// An empty mirror says nothing about the kind of job: a jar job with one is a jar job.
	doc := descriptorDoc()
	specific(doc)["pyMirror"] = ""
	d, problems = descriptor.Check(marshal(t, doc))
	require.Empty(t, problems)
	assert.Equal(t, descriptor.SparkJar, d.Component.Specific.Kind)
}

func pySparkText(withEnv bool, mirrorLine string) string {
	var b strings.Builder
	b.WriteString(`dataProduct:
  id: urn:dmb:dp:finance:cashflow:0
  environment: development
  components:
    - kind: workload
      id: urn:dmb:cmp:finance:cashflow:0:py-wl
      specific:
        cdeService: cde-dev
        cdeCluster: vc-dev
        jobName: finance-cashflow-0-py-wl-development
        pythonFile: s3://artifacts/main.py
        pythonVersion: python3
`)
	if withEnv {
		b.WriteString("        requirementsFile: s3://artifacts/requirements.txt\n")
	}
	if mirrorLine != "" {
		b.WriteString("        " + mirrorLine + "\n")
	}
	b.WriteString("componentIdToProvision: urn:dmb:cmp:finance:cashflow:0:py-wl\n")
	return b.String()
}

func request(text string) descriptor.Request {
	return descriptor.Request{DescriptorKind: descriptor.ComponentDescriptor, Descriptor: text}
}

func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}
