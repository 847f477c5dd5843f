package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/witboost-community/cde-spark-provisioner/workflows"
)

// Wire types of the Witboost Tech Adapter API 2.2.0 (reference/witboost-api.md 1.4).

// Status values of ProvisioningStatus and ValidationStatus.
const (
	StatusRunning   = "RUNNING"
	StatusCompleted = "COMPLETED"
	StatusFailed    = "FAILED"
)

// ProvisioningStatus is the answer of provision, unprovision and the status endpoint. A FAILED
// status also carries the fields of the error bodies (userMessage, moreInfo, inputErrorField,
// the deprecated errors), so the Coordinator shows the same detail whether the run ended within
// the synchronous wait or after it.
type ProvisioningStatus struct {
	Status string `json:"status"`
	Result string `json:"result"`
	Info   *Info  `json:"info,omitempty"`
	Logs   []Log  `json:"logs,omitempty"`

	UserMessage     string    `json:"userMessage,omitempty"`
	InputErrorField string    `json:"inputErrorField,omitempty"`
	MoreInfo        *MoreInfo `json:"moreInfo,omitempty"`
	Errors          []string  `json:"errors,omitempty"`
}

// Info is what the marketplace shows (publicInfo) and what is stored with the deployed
// descriptor (privateInfo).
type Info struct {
	PublicInfo  PublicInfo        `json:"publicInfo"`
	PrivateInfo map[string]string `json:"privateInfo"`
}

// PublicInfo is an object of typed entries whose keys keep the order the workflow gave them
// (display order in the marketplace follows key order).
type PublicInfo []workflows.InfoEntry

// MarshalJSON writes {"key": {"type", "label", "value", "href"?}, ...} in order.
func (p PublicInfo) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, e := range p {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(e.Key)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(struct {
			Type  string `json:"type"`
			Label string `json:"label"`
			Value string `json:"value"`
			Href  string `json:"href,omitempty"`
		}{e.Type, e.Label, e.Value, e.Href})
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads the object back in its key order (for clients and tests).
func (p *PublicInfo) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return fmt.Errorf("publicInfo must be a JSON object")
	}
	out := PublicInfo{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		var e workflows.InfoEntry
		if err := dec.Decode(&e); err != nil {
			return fmt.Errorf("publicInfo.%s: %w", key, err)
		}
		e.Key = key
		out = append(out, e)
	}
	*p = out
	return nil
}

// Log is one entry of ProvisioningStatus.logs.
type Log struct {
	Timestamp time.Time `json:"timestamp"`
	Level     string    `json:"level"`
	Message   string    `json:"message"`
	Phase     string    `json:"phase,omitempty"`
}

// ValidationResult is the answer of /v1/validate, and the publicInfo of a completed /v2 one.
type ValidationResult struct {
	Valid bool             `json:"valid"`
	Error *ValidationError `json:"error,omitempty"`
}

// ValidationError lists the problems of an invalid descriptor. The spec has only errors; the
// other fields carry the same detail as the error bodies (field, solutions).
type ValidationError struct {
	Errors          []string  `json:"errors"`
	UserMessage     string    `json:"userMessage,omitempty"`
	InputErrorField string    `json:"inputErrorField,omitempty"`
	MoreInfo        *MoreInfo `json:"moreInfo,omitempty"`
}

// ValidationStatus is the answer of GET /v2/validate/{token}/status.
type ValidationStatus struct {
	Status string          `json:"status"`
	Info   *ValidationInfo `json:"info,omitempty"`
}

// ValidationInfo holds the result of a completed asynchronous validation.
type ValidationInfo struct {
	PublicInfo ValidationResult `json:"publicInfo"`
}

// RequestValidationError is the 400 body.
type RequestValidationError struct {
	Errors          []string  `json:"errors"`
	UserMessage     string    `json:"userMessage"`
	InputErrorField string    `json:"inputErrorField,omitempty"`
	MoreInfo        *MoreInfo `json:"moreInfo"`
}

// SystemError is the body of 401, 403, 409, 413, 500 and 503 answers.
type SystemError struct {
	Error       string    `json:"error"`
	UserMessage string    `json:"userMessage"`
	MoreInfo    *MoreInfo `json:"moreInfo"`
}

// MoreInfo details a failure.
type MoreInfo struct {
	Problems  []string `json:"problems"`
	Solutions []string `json:"solutions"`
}
