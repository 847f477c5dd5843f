// Package workflows holds the deterministic workflow code of the provisioner: Validate,
// Provision and Unprovision. Workflows decide the order of steps and what their outcome means;
// every call to CDP, CDE or S3 is an activity (package activities) run by a worker.
package workflows

import (
	"time"

	"github.com/witboost-community/cde-spark-provisioner/descriptor"
)

// Names under which the workflows are registered and started. They are stable: running
// workflows and API replicas of another version refer to them.
const (
	ValidateName    = "cde.Validate"
	ProvisionName   = "cde.Provision"
	UnprovisionName = "cde.Unprovision"
)

// Operation is what a workflow does to a component.
type Operation string

// Operations.
const (
	OpValidate    Operation = "validate"
	OpProvision   Operation = "provision"
	OpUnprovision Operation = "unprovision"
)

// WorkflowName returns the registered name of the operation's workflow.
func (o Operation) WorkflowName() string {
	switch o {
	case OpValidate:
		return ValidateName
	case OpProvision:
		return ProvisionName
	case OpUnprovision:
		return UnprovisionName
	case OpReverse:
		return ReverseProvisionName
	}
	return ""
}

// Input is the input of every workflow: the decoded descriptor, never a credential.
type Input struct {
	Descriptor descriptor.Descriptor `json:"descriptor"`
	// Problems are the static problems the API found (Validate reports them with the checks
	// against CDP and S3; Provision and Unprovision are only started without).
	Problems   descriptor.Problems `json:"problems,omitempty"`
	RemoveData bool                `json:"removeData,omitempty"`
}

// Result is what a workflow returns when it completes.
type Result struct {
	Operation Operation `json:"operation"`
	// Message is the short result text (ProvisioningStatus.result).
	Message string `json:"message"`
	// Valid and Problems are the answer of Validate.
	Valid    bool                `json:"valid,omitempty"`
	Problems descriptor.Problems `json:"problems,omitempty"`
	// Skipped is set when unprovision found nothing to act on (service or cluster gone).
	Skipped     bool              `json:"skipped,omitempty"`
	PublicInfo  []InfoEntry       `json:"publicInfo,omitempty"`
	PrivateInfo map[string]string `json:"privateInfo,omitempty"`
	Logs        []Log             `json:"logs,omitempty"`
}

// InfoEntry is one typed entry of info.publicInfo, which the Witboost marketplace renders.
type InfoEntry struct {
	Key   string `json:"key"`
	Type  string `json:"type"` // string, link or date
	Label string `json:"label"`
	Value string `json:"value"`
	Href  string `json:"href,omitempty"`
}

// Log is one step taken, reported in ProvisioningStatus.logs.
type Log struct {
	Timestamp time.Time `json:"timestamp"`
	Level     string    `json:"level"` // DEBUG, INFO, WARNING, ERROR
	Message   string    `json:"message"`
	Phase     string    `json:"phase,omitempty"`
}

// Failure is the detail of a failed provision or unprovision, carried by the workflow's
// application error so that the API can answer with every problem and the steps taken.
type Failure struct {
	// Problems are set when the request was refused as invalid (ErrTypeInvalid).
	Problems descriptor.Problems `json:"problems,omitempty"`
	Logs     []Log               `json:"logs,omitempty"`
}

// Application error types of failed workflows, which the API maps to answers.
const (
	// ErrTypeInvalid: the descriptor was refused (a 400 with the problems).
	ErrTypeInvalid = "InvalidDescriptor"
	// ErrTypeFailed: a step failed for good (a 500 with the message).
	ErrTypeFailed = "ProvisioningFailed"
)

// Memo keys set on every run by the API when it starts it.
const (
	MemoOperation   = "operation"
	MemoRequestHash = "requestHash"
	// MemoStep is the step of runs from before changeProgressQuery, which upserted it at each
	// step; later runs answer QueryProgress instead.
	MemoStep = "step"
)

// QueryProgress is the query every workflow answers while it runs, with its Progress. A worker
// answers it from the run's state: it adds nothing to the history.
const QueryProgress = "progress"

// Progress is where a run stands: its latest step and the steps taken so far.
type Progress struct {
	Operation Operation `json:"operation"`
	Phase     string    `json:"phase,omitempty"`
	Step      string    `json:"step,omitempty"`
	Logs      []Log     `json:"logs,omitempty"`
}
