package workflows

import "go.temporal.io/sdk/workflow"

// Register lists the workflows with their stable names, for workers.
func Register(reg interface {
	RegisterWorkflowWithOptions(w any, options workflow.RegisterOptions)
}) {
	reg.RegisterWorkflowWithOptions(Validate, workflow.RegisterOptions{Name: ValidateName})
	reg.RegisterWorkflowWithOptions(Provision, workflow.RegisterOptions{Name: ProvisionName})
	reg.RegisterWorkflowWithOptions(Unprovision, workflow.RegisterOptions{Name: UnprovisionName})
	reg.RegisterWorkflowWithOptions(ReverseProvision, workflow.RegisterOptions{Name: ReverseProvisionName})
	reg.RegisterWorkflowWithOptions(DriftCheck, workflow.RegisterOptions{Name: DriftCheckName})
	reg.RegisterWorkflowWithOptions(DriftRegistry, workflow.RegisterOptions{Name: DriftRegistryName})
}
