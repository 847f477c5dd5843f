package descriptor

import (
	"fmt"
	"strings"
)

// Problem is one thing wrong with a request, phrased for the data engineer who wrote the
// descriptor.
type Problem struct {
	// Field is the dot path of the failing field, e.g.
	// "dataProduct.components[2].specific.jobConfig.driverMemory"; "descriptor" or
	// "descriptorKind" for problems of the request envelope.
	Field string `json:"field"`
	// Message says what is wrong. For the rules of the reference provisioner it starts with the
	// reference's message, which users already know.
	Message string `json:"message"`
	// Solution is one sentence saying how to fix it.
	Solution string `json:"solution"`
	// Line and Column locate the problem in the descriptor YAML (1-based); 0 when unknown.
	Line   int `json:"line,omitempty"`
	Column int `json:"column,omitempty"`
}

// String renders the problem on one line, with its field path and position.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.Message)
	if p.Field != "" {
		fmt.Fprintf(&b, " (field %s", p.Field)
		if p.Line > 0 {
			fmt.Fprintf(&b, ", line %d", p.Line)
			if p.Column > 0 {
				fmt.Fprintf(&b, ", column %d", p.Column)
			}
		}
		b.WriteString(")")
	}
	return b.String()
}

// Problems is every problem found in one request. A non-empty Problems is an error.
type Problems []Problem

// Error joins the problems' messages.
func (ps Problems) Error() string {
	switch len(ps) {
	case 0:
		return "no problems"
	case 1:
		return ps[0].String()
	}
	msgs := make([]string, len(ps))
	for i, p := range ps {
		msgs[i] = p.String()
	}
	return fmt.Sprintf("%d problems: %s", len(ps), strings.Join(msgs, "; "))
}

// Messages returns the messages alone, in order: the shape of the deprecated `errors` list of
// the Tech Adapter API and of ValidationResult.error.errors.
func (ps Problems) Messages() []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Message
	}
	return out
}

// Solutions returns the distinct solutions, in the order of their first problem.
func (ps Problems) Solutions() []string {
	seen := make(map[string]bool, len(ps))
	var out []string
	for _, p := range ps {
		if p.Solution == "" || seen[p.Solution] {
			continue
		}
		seen[p.Solution] = true
		out = append(out, p.Solution)
	}
	return out
}

// Field returns the failing field's path when exactly one field is at fault, else "".
// It is what the Tech Adapter API calls inputErrorField.
func (ps Problems) Field() string {
	field := ""
	for _, p := range ps {
		switch {
		case p.Field == "":
			return ""
		case field == "":
			field = p.Field
		case field != p.Field:
			return ""
		}
	}
	return field
}

// Err returns ps as an error, or nil when there is no problem (avoiding a typed nil).
func (ps Problems) Err() error {
	if len(ps) == 0 {
		return nil
	}
	return ps
}
