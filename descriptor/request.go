package descriptor

import "fmt"

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
