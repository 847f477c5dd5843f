package descriptor

import (
	"fmt"
	"strings"
)

// DescriptorKind values of the Tech Adapter API 2.2.0. Only COMPONENT_DESCRIPTOR is served: a
// Spark job is one component, and the Coordinator calls component tech adapters with it.
const (
	ComponentDescriptor             = "COMPONENT_DESCRIPTOR"
	DataProductDescriptor           = "DATAPRODUCT_DESCRIPTOR"
	DataProductDescriptorWithResult = "DATAPRODUCT_DESCRIPTOR_WITH_RESULTS"
)

// Request is the ProvisioningRequest of the Tech Adapter API 2.2.0, the body of validate,
// provision and unprovision.
type Request struct {
	DescriptorKind string `json:"descriptorKind"`
	// Descriptor is the YAML text of the descriptor.
	Descriptor string `json:"descriptor"`
	// RemoveData asks to delete the component's data on unprovision. A Spark job has no data of its
	// own (its CDE resources hold copies of S3 artifacts), so it does not change what is deleted.
	RemoveData bool `json:"removeData"`
	// LatestEnrichedDescriptor is the last deployed descriptor with provisioning results; kept for
	// reference, never decoded.
	LatestEnrichedDescriptor string `json:"latestEnrichedDescriptor,omitempty"`
}

// CheckKind reports a descriptorKind other than COMPONENT_DESCRIPTOR.
func (r Request) CheckKind() Problems {
	if r.DescriptorKind == ComponentDescriptor {
		return nil
	}
	got := "it is missing"
	if r.DescriptorKind != "" {
		got = fmt.Sprintf("got '%s'", r.DescriptorKind)
	}
	return Problems{{
		Field:    "descriptorKind",
		Message:  fmt.Sprintf("descriptorKind not supported: expected '%s', %s", ComponentDescriptor, got),
		Solution: "Register this provisioner as a tech adapter of workload components, which the Coordinator calls with descriptorKind COMPONENT_DESCRIPTOR.",
	}}
}

// Decode checks the envelope and decodes the descriptor (see Decode).
func (r Request) Decode() (*Descriptor, Problems) {
	if ps := r.CheckKind(); ps != nil {
		return nil, ps
	}
	return Decode(r.Descriptor)
}

// Check checks the envelope, decodes the descriptor and applies every static rule (see Check).
func (r Request) Check() (*Descriptor, Problems) {
	if ps := r.CheckKind(); ps != nil {
		return nil, ps
	}
	return Check(r.Descriptor)
}

// CheckUnprovision checks what deleting a job depends on, and nothing else: the envelope, the
// component and its specific (service, cluster, job name) and the job-name rule, which keeps an
// unprovision from deleting a job that is not this component's. Problems of the job's
// configuration or artifacts (a jar since deleted from S3, a memory setting) do not block it:
// a job must stay removable whatever became of its definition.
func (r Request) CheckUnprovision() (*Descriptor, Problems) {
	if ps := r.CheckKind(); ps != nil {
		return nil, ps
	}
	d, problems := Decode(r.Descriptor)
	if d == nil {
		return nil, problems
	}
	var kept Problems
	for _, p := range problems {
		inSpecific := p.Field == d.Path(FieldSpecific) || strings.HasPrefix(p.Field, d.Path(FieldSpecific)+".")
		if !inSpecific || unprovisionFields[strings.TrimPrefix(p.Field, d.Path("")+".")] {
			kept = append(kept, p)
		}
	}
	v := &validator{d: d}
	v.jobName()
	return d, append(kept, v.problems...)
}

// unprovisionFields are the fields of the specific that unprovision reads.
var unprovisionFields = map[string]bool{FieldCDEService: true, FieldCDECluster: true, FieldJobName: true}
