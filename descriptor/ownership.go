package descriptor

import "fmt"

// Spark conf keys the provisioner sets on every job it deploys, which a descriptor's
// jobConfig.conf may not set (ReservedConfKeys).
const (
	// ConfOwnerKey records the component that owns the job: a provision or unprovision of another
	// component never touches it. Two component ids can map to the same job name (the job-name
	// rule replaces every character other than a letter or a digit with "-": urn:dmb:cmp:fin-eu:cash:0:wl
	// and urn:dmb:cmp:fin:eu-cash:0:wl both give fin-eu-cash-0-wl-<environment>).
	ConfOwnerKey = "spark.cde-spark-provisioner.componentId"
	// ConfIDBrokerHostsKey holds the idbroker hosts of the environment's datalake, looked up in CDP.
	ConfIDBrokerHostsKey = "spark.cde.idBrokerHosts"
)

// ReservedConfKeys are the conf keys the provisioner sets itself.
var ReservedConfKeys = []string{ConfOwnerKey, ConfIDBrokerHostsKey}

// JobOwnedByAnother is the problem of a component whose job name is the name of a job another
// component owns, at the job name's field.
func JobOwnedByAnother(field, jobName, owner, componentID string) Problem {
	return Problem{
		Field: field,
		Message: fmt.Sprintf("Job name %s is already used by component %s: component %s maps to the same CDE job, which this provisioner will not touch",
			jobName, owner, componentID),
		Solution: "Two component ids lead to the same job name when they differ only in characters other than letters and digits. " +
			"Rename one of the components, or unprovision " + owner + " first.",
	}
}
