package descriptor

import (
	"fmt"
	"strconv"
	"strings"
)

// Recheck applies the static rules again to a descriptor that reached a workflow as data rather
// than through Check: Temporal is a trust boundary, and a workflow started with the CLI, the UI or
// another client must not get past the rules the API enforces. It checks what Decode checks of
// the component's identity (a well-formed component id that is the component's own, a data
// product id and environment, the service, cluster and job name, a known job kind) and then
// every rule of Validate, the job-name convention included. A descriptor that passed Check
// passes Recheck (descriptor/recheck_test.go holds the two together).
func Recheck(d *Descriptor) Problems {
	ps := identity(d, true)
	if len(ps) > 0 {
		return ps // the rules below would only repeat these
	}
	return Validate(d)
}

// RecheckUnprovision is Recheck for an unprovision: the identity of the component and the
// job-name rule only, as Request.CheckUnprovision (a job stays removable whatever became of its
// configuration or its artifacts).
func RecheckUnprovision(d *Descriptor) Problems {
	ps := identity(d, false)
	if len(ps) > 0 {
		return ps
	}
	v := &validator{d: d}
	v.jobName()
	return v.problems
}

// identity is what a workflow must know for certain before it touches CDE: whose job this is
// (and, to deploy it, what kind of job).
func identity(d *Descriptor, withKind bool) Problems {
	var ps Problems
	add := func(field, msg, solution string) {
		ps = append(ps, Problem{Field: field, Message: msg, Solution: solution})
	}
	if d.ComponentIndex < 0 {
		add(fieldComponentID, fmt.Sprintf("The component index %d is not a position in dataProduct.components", d.ComponentIndex),
			"Send the descriptor through the provisioner's API, which decodes it.")
		return ps
	}
	if _, err := ParseComponentID(d.ComponentID); err != nil {
		ps = append(ps, componentIDProblem(d.Path("id"), d.ComponentID))
	}
	if d.Component.ID != d.ComponentID {
		add(d.Path("id"), fmt.Sprintf("The component's id '%s' is not componentIdToProvision '%s'", d.Component.ID, d.ComponentID),
			"Send the descriptor of the component to provision.")
	}
	for _, f := range []struct{ field, value string }{
		{"dataProduct.id", d.DataProduct.ID},
		{"dataProduct.environment", d.DataProduct.Environment},
	} {
		if f.value == "" {
			add(f.field, f.field+" is missing or empty", "Send the data product with its id and environment, as the Coordinator does.")
		}
	}
	s := d.Component.Specific
	for _, f := range []struct{ field, value string }{
		{FieldCDEService, s.CDEService},
		{FieldCDECluster, s.CDECluster},
		{FieldJobName, s.JobName},
	} {
		if f.value == "" {
			path := d.Path(f.field)
			add(path, path+" is missing or empty", "Set cdeService, cdeCluster and jobName in the component's specific.")
		}
	}
	if _, known := kinds[s.Kind]; !known && withKind {
		quoted := make([]string, len(kindOrder))
		for i, k := range kindOrder {
			quoted[i] = strconv.Quote(string(k))
		}
		add(d.Path(FieldSpecific), fmt.Sprintf("The specific's job kind %q is not one of %s", s.Kind, strings.Join(quoted, ", ")),
			"Send the descriptor through the provisioner's API, which decodes the kind from jar/className or pythonFile/pythonVersion.")
	}
	return ps
}
