package descriptor

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

const (
	fieldComponentID = "componentIdToProvision"
	fieldDataProduct = "dataProduct"
	fieldComponents  = "dataProduct.components"
)

// descriptor decodes the top level, the data product and, if it can be found, the component.
func (d *decoder) descriptor(root *yaml.Node) *Descriptor {
	top, _ := d.mapping(root, "")
	desc := &Descriptor{}

	compID, _ := d.str(top, fieldComponentID)
	if strings.TrimSpace(compID) == "" {
		d.add(Problem{
			Field:    fieldComponentID,
			Message:  "componentIdToProvision is missing or empty: the descriptor does not say which component to provision",
			Solution: "Send the descriptor with componentIdToProvision set to the id of the workload component, as the Coordinator does.",
		}, top.values[fieldComponentID])
	}
	desc.ComponentID = compID

	dpNode := top.node(fieldDataProduct)
	if dpNode == nil {
		d.add(Problem{Field: fieldDataProduct, Message: "dataProduct is missing",
			Solution: "Send the COMPONENT_DESCRIPTOR with the dataProduct that holds the component."}, nil)
		return nil
	}
	dp, ok := d.mapping(dpNode, fieldDataProduct)
	if !ok {
		d.typeProblem(fieldDataProduct, "a mapping", dpNode, "")
		return nil
	}
	desc.DataProduct = d.dataProduct(dp)

	compsNode := dp.node("components")
	if compsNode == nil {
		d.add(Problem{Field: fieldComponents, Message: "dataProduct.components is missing or empty",
			Solution: "Send the data product with its components, the workload to provision among them."}, nil)
		return nil
	}
	if compsNode.Kind != yaml.SequenceNode {
		d.typeProblem(fieldComponents, "a list of components", compsNode, "")
		return nil
	}
	if strings.TrimSpace(compID) == "" {
		return nil
	}

	index, node := d.findComponent(compsNode, compID)
	if node == nil {
		return nil
	}
	desc.ComponentIndex = index
	w, ok := d.workload(node, index, compID)
	if !ok {
		return nil
	}
	desc.Component = w
	return desc
}

func (d *decoder) dataProduct(dp fields) DataProduct {
	return DataProduct{
		ID:          d.required(dp, "id", "Send the data product with its id, e.g. urn:dmb:dp:finance:cashflow:0."),
		Name:        d.optional(dp, "name"),
		Domain:      d.optional(dp, "domain"),
		Environment: d.required(dp, "environment", "Send the data product with the environment it is deployed to, e.g. development."),
		Version:     d.optional(dp, "version"),
		Owner:       d.optional(dp, "dataProductOwner"),
		DevGroup:    d.optional(dp, "devGroup"),
		OwnerGroup:  d.optional(dp, "ownerGroup"),
	}
}

func (d *decoder) optional(f fields, key string) string {
	v, _ := d.str(f, key)
	return v
}

// findComponent finds the component whose id is compID without decoding any other component:
// other kinds (storage, output ports) have shapes this provisioner must not judge.
func (d *decoder) findComponent(comps *yaml.Node, compID string) (int, *yaml.Node) {
	var found []int
	for i, c := range comps.Content {
		if id := d.componentIDOf(deref(c)); id != nil && id.Value == compID {
			found = append(found, i)
		}
	}
	switch len(found) {
	case 0:
		d.add(Problem{
			Field:    fieldComponentID,
			Message:  fmt.Sprintf("The component with ID '%s' wasn't found in the received descriptor", compID),
			Solution: "Check that componentIdToProvision is the id of one of the components in dataProduct.components.",
		}, nil)
		return 0, nil
	case 1:
		return found[0], deref(comps.Content[found[0]])
	}
	d.add(Problem{
		Field:    componentPath(found[1], "id"),
		Message:  fmt.Sprintf("The component with ID '%s' appears %d times in dataProduct.components", compID, len(found)),
		Solution: "Give every component of the data product a distinct id.",
	}, deref(comps.Content[found[1]]))
	return 0, nil
}

// componentIDOf returns the scalar id of a component mapping, or nil, reading each mapping once
// however many aliases refer to it.
func (d *decoder) componentIDOf(c *yaml.Node) *yaml.Node {
	if c == nil || c.Kind != yaml.MappingNode {
		return nil
	}
	if id, seen := d.ids[c]; seen {
		return id
	}
	if d.ids == nil {
		d.ids = map[*yaml.Node]*yaml.Node{}
	}
	id := componentIDOf(c)
	d.ids[c] = id
	return id
}

// componentIDOf returns the scalar id of a component mapping, or nil. It reads the raw node, so
// nothing about the other components (duplicate keys, odd shapes) is judged or reported.
func componentIDOf(c *yaml.Node) *yaml.Node {
	if c == nil || c.Kind != yaml.MappingNode {
		return nil
	}
	for j := 0; j+1 < len(c.Content); j += 2 {
		if k := c.Content[j]; k.Kind == yaml.ScalarNode && k.Value == "id" {
			if v := deref(c.Content[j+1]); v != nil && v.Kind == yaml.ScalarNode {
				return v
			}
			return nil
		}
	}
	return nil
}

func (d *decoder) workload(n *yaml.Node, index int, compID string) (Workload, bool) {
	base := componentPath(index, "")
	c, _ := d.mapping(n, base)
	w := Workload{ID: compID}

	kind, _ := d.str(c, "kind")
	switch {
	case kind == "":
		d.add(Problem{
			Field:    join(base, "kind"),
			Message:  fmt.Sprintf("Couldn't retrieve 'kind' field for the component with ID '%s'", compID),
			Solution: "Give the component kind: workload.",
		}, n)
		return w, false
	case kind != "workload":
		d.add(Problem{
			Field:    join(base, "kind"),
			Message:  fmt.Sprintf("The component with ID '%s' is of kind '%s', but this provisioner deploys only components of kind 'workload'", compID, kind),
			Solution: "Register this provisioner only for Spark workload components, or send the workload component.",
		}, c.node("kind"))
		return w, false
	}

	// A malformed id is reported, but decoding goes on so that the other problems come in the
	// same answer; Validate skips the job-name rule, which would only repeat it.
	if _, err := ParseComponentID(compID); err != nil {
		d.add(componentIDProblem(join(base, "id"), compID), c.node("id"))
	}
	w.Name = d.optional(c, "name")
	w.Description = d.optional(c, "description")
	w.Version = d.optional(c, "version")

	spec := c.node("specific")
	if spec == nil {
		d.add(Problem{
			Field:    join(base, "specific"),
			Message:  fmt.Sprintf("The component with ID '%s' has no specific: nothing says which Spark job to deploy", compID),
			Solution: "Add the specific of the Spark job: cdeService, cdeCluster, jobName and jar + className or pythonFile + pythonVersion.",
		}, n)
		return w, false
	}
	sf, isMap := d.mapping(spec, join(base, "specific"))
	if !isMap {
		d.typeProblem(join(base, "specific"), "a mapping", spec, "")
		return w, false
	}
	w.Specific = d.specific(sf)
	return w, true
}

var (
	sparkKeys  = []string{"jar", "className"}
	pythonKeys = []string{"pythonFile", "pythonVersion", "requirementsFile", "pyMirror"}
)

// present lists the keys of f that are given: present, not null, and for pyMirror not blank
// (an empty mirror means no mirror, so it says nothing about the kind of job).
func present(f fields, keys []string) []string {
	var out []string
	for _, k := range keys {
		if n := f.node(k); n != nil && !(k == "pyMirror" && blankScalar(n)) {
			out = append(out, k)
		}
	}
	return out
}

// blankScalar reports whether n is a scalar of only white space ("" included).
func blankScalar(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && strings.TrimSpace(n.Value) == ""
}

func (d *decoder) specific(f fields) Specific {
	s := Specific{
		CDEService: d.required(f, "cdeService", "Set cdeService to the name of the CDE service that runs the job."),
		CDECluster: d.required(f, "cdeCluster", "Set cdeCluster to the name of the virtual cluster of the CDE service that runs the job."),
		JobName:    d.required(f, "jobName", "Set jobName to the CDE job name: the component id without urn:dmb:cmp:, a dash and the environment, with every character other than a letter or digit replaced by a dash."),
	}
	sk, pk := present(f, sparkKeys), present(f, pythonKeys)
	switch {
	case len(sk) > 0 && len(pk) > 0:
		d.add(Problem{
			Field: f.path,
			Message: fmt.Sprintf("The specific mixes a Spark jar job (%s) with a PySpark job (%s): it must be one or the other",
				strings.Join(sk, ", "), strings.Join(pk, ", ")),
			Solution: "Keep jar and className for a Scala/Java job, or pythonFile and pythonVersion (and requirementsFile) for a PySpark job, not both.",
		}, f.values[sk[0]])
	case len(sk) > 0:
		s.Kind = SparkJar
		s.Jar = d.required(f, "jar", "Set jar to the s3:// location of the application jar.")
		s.ClassName, _ = d.str(f, "className") // missing and empty alike: Validate's ClassNameEmpty
	case len(pk) > 0:
		s.Kind = PySpark
		s.PythonFile = d.required(f, "pythonFile", "Set pythonFile to the s3:// location of the job's main Python file.")
		s.PythonVersion, _ = d.str(f, "pythonVersion") // checked by Validate, missing included
		if f.node("requirementsFile") != nil {
			s.Kind = PySparkWithEnv
			s.RequirementsFile, _ = d.str(f, "requirementsFile")
		}
		// pyMirror absent, null (`pyMirror:` or `pyMirror: null`, which the reference decoded as
		// no mirror) or blank means no mirror: PyPI.
		if n := f.node("pyMirror"); n != nil && !blankScalar(n) {
			if m, ok := d.str(f, "pyMirror"); ok {
				s.PyMirror = &m
			}
			if s.Kind != PySparkWithEnv {
				d.add(Problem{
					Field:    join(f.path, "pyMirror"),
					Message:  "pyMirror is set but requirementsFile is not: the mirror is only used to build a Python environment",
					Solution: "Add requirementsFile, or remove pyMirror.",
				}, n)
			}
		}
	default:
		d.add(Problem{
			Field:    f.path,
			Message:  "The specific does not say what to run: it needs jar and className (Spark job) or pythonFile and pythonVersion (PySpark job)",
			Solution: "Add jar and className for a Scala/Java job, or pythonFile and pythonVersion for a PySpark job.",
		}, nil)
	}
	if jc := f.node("jobConfig"); jc != nil {
		s.JobConfig = d.jobConfig(jc, join(f.path, "jobConfig"))
	}
	return s
}

func (d *decoder) jobConfig(n *yaml.Node, path string) *JobConfig {
	f, ok := d.mapping(n, path)
	if !ok {
		d.typeProblem(path, "a mapping", n, "")
		return nil
	}
	jc := &JobConfig{
		Args:           d.strings(f, "args"),
		Dependencies:   d.strings(f, "dependencies"),
		DriverCores:    d.integer(f, "driverCores"),
		DriverMemory:   d.optionalPtr(f, "driverMemory"),
		ExecutorCores:  d.integer(f, "executorCores"),
		ExecutorMemory: d.optionalPtr(f, "executorMemory"),
		NumExecutors:   d.integer(f, "numExecutors"),
		LogLevel:       d.optionalPtr(f, "logLevel"),
		Conf:           d.stringMap(f, "conf"),
	}
	if sn := f.node("schedule"); sn != nil {
		sp := join(path, "schedule")
		sf, ok := d.mapping(sn, sp)
		if !ok {
			d.typeProblem(sp, "a mapping with cronExpression, startDate and endDate, or null", sn, "")
		} else {
			jc.Schedule = &Schedule{
				CronExpression: d.required(sf, "cronExpression", `Set schedule.cronExpression, quoted, e.g. "0 3 * * *"; or set schedule: null to deploy the job unscheduled.`),
				StartDate:      d.required(sf, "startDate", "Set schedule.startDate, e.g. 2025-01-31T00:00:00Z."),
				EndDate:        d.required(sf, "endDate", "Set schedule.endDate, e.g. 2026-01-31T00:00:00Z."),
			}
			d.mark(sp, sn)
		}
	}
	return jc
}

func (d *decoder) optionalPtr(f fields, key string) *string {
	if v, ok := d.str(f, key); ok {
		return &v
	}
	return nil
}
