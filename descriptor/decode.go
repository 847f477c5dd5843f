package descriptor

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// MaxDescriptorBytes bounds the descriptor YAML. A data product descriptor with dozens of
// components is a few hundred KiB; anything above 2 MiB is refused before it is parsed, so a
// hostile or broken request cannot make the parser allocate without bound.
const MaxDescriptorBytes = 2 << 20

// Decode decodes a COMPONENT_DESCRIPTOR YAML: the data product fields the provisioner needs and
// the component named by componentIdToProvision, which must be a workload with a specific.
//
// It returns every problem it finds. The descriptor is nil when the component could not be
// found or decoded at all (then validation rules would only repeat the same fault); otherwise it
// is returned even with problems in some fields, so that Validate can add the rest.
func Decode(text string) (*Descriptor, Problems) {
	desc, problems, dropped := decode(text)
	return desc, withMore(problems, dropped)
}

// decode is Decode, with the number of problems past MaxProblems left out of the list.
func decode(text string) (*Descriptor, Problems, int) {
	root, problems := parseYAML(text)
	if problems != nil {
		return nil, problems, 0
	}
	d := &decoder{pos: map[string]position{}}
	desc := d.descriptor(root)
	if desc != nil {
		desc.pos = d.pos
	}
	return desc, d.problems, d.dropped
}

// Check decodes the descriptor and applies every static rule, returning all problems at once
// (at most MaxProblems of them, and how many more there are).
func Check(text string) (*Descriptor, Problems) {
	desc, problems, dropped := decode(text)
	if desc == nil {
		return nil, withMore(problems, dropped)
	}
	rules, more := validate(desc)
	problems, dropped = append(problems, rules...), dropped+more
	if len(problems) > MaxProblems {
		dropped += len(problems) - MaxProblems
		problems = problems[:MaxProblems:MaxProblems]
	}
	return desc, withMore(problems, dropped)
}

// MaxProblems bounds the problems of one answer: a descriptor can repeat a fault thousands of
// times (a key given over and over, a list of a hundred thousand wrong items), and the answer
// lists the first MaxProblems, then says how many more there are.
const MaxProblems = 100

// withMore appends to problems one that says how many more were left out, if any.
func withMore(problems Problems, dropped int) Problems {
	if dropped == 0 {
		return problems
	}
	return append(problems, Problem{
		Field:    "descriptor",
		Message:  fmt.Sprintf("The descriptor has %d more problems, not listed: only the first %d are", dropped, MaxProblems),
		Solution: "Fix the problems listed, which often repeat one mistake, and send the descriptor again to see the rest.",
	})
}

func descriptorProblem(msg, solution string) Problems {
	return Problems{{Field: "descriptor", Message: msg, Solution: solution}}
}

const yamlSolution = "Fix the YAML syntax of the descriptor at the given line; values starting with *, &, !, %, @ or ` must be quoted."

// parseYAML checks size and encoding, then parses exactly one YAML document whose root is a
// mapping.
func parseYAML(text string) (*yaml.Node, Problems) {
	if len(text) > MaxDescriptorBytes {
		return nil, descriptorProblem(
			fmt.Sprintf("The descriptor is %d bytes, above the limit of %d bytes", len(text), MaxDescriptorBytes),
			"Send the descriptor of one data product; if it really is this large, ask the platform team to raise the limit.")
	}
	if strings.TrimSpace(text) == "" {
		return nil, descriptorProblem("The descriptor is empty",
			"Send the COMPONENT_DESCRIPTOR YAML with dataProduct and componentIdToProvision.")
	}
	if !utf8.ValidString(text) {
		line, col := invalidUTF8Position(text)
		ps := descriptorProblem(
			fmt.Sprintf("The descriptor is not valid UTF-8 (line %d, column %d)", line, col),
			"Save the descriptor as UTF-8 text.")
		ps[0].Line, ps[0].Column = line, col
		return nil, ps
	}
	// yaml.v3 builds the tree of the whole text before anything is read from it: its cost is
	// bounded here, before it starts (bound.go).
	if nodeBound(text, MaxDescriptorNodes) > MaxDescriptorNodes {
		return nil, descriptorProblem(
			fmt.Sprintf("The descriptor holds too many YAML nodes: more than %d keys, values, list items, lists and mappings (text in quotes, comments and block scalars counts as if it were YAML)", MaxDescriptorNodes),
			"Send the descriptor of one data product; if it really is this large, ask the platform team to raise the limit.")
	}
	dec := yaml.NewDecoder(strings.NewReader(text))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		return nil, Problems{syntaxProblem(err, text)}
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		return nil, descriptorProblem(
			fmt.Sprintf("The descriptor holds more than one YAML document (a second one starts at line %d)", extra.Line),
			"Send one YAML document: remove the --- separator and what follows it.")
	case !errors.Is(err, io.EOF):
		return nil, Problems{syntaxProblem(err, text)}
	}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		doc = doc.Content[0]
	}
	doc = deref(doc)
	if doc.Kind != yaml.MappingNode {
		ps := descriptorProblem(
			"The descriptor must be a YAML mapping with the keys dataProduct and componentIdToProvision, got "+describe(doc),
			"Send the COMPONENT_DESCRIPTOR YAML with dataProduct and componentIdToProvision at its top level.")
		ps[0].Line, ps[0].Column = doc.Line, doc.Column
		return nil, ps
	}
	return doc, nil
}

func invalidUTF8Position(text string) (line, col int) {
	line, col = 1, 1
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		if r == utf8.RuneError && size <= 1 {
			return line, col
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
		i += size
	}
	return line, col
}

var (
	yamlLineErr       = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	yamlUnknownAnchor = regexp.MustCompile(`^yaml: unknown anchor '(.*)' referenced$`)
	// A `key: value` or `- value` line whose unquoted value starts with * or &.
	aliasValue = regexp.MustCompile(`^(\s*(?:-\s+)*)(?:([^\s#'"-][^:#]*?|"[^"]*"|'[^']*'):[ \t]+)?([*&])`)
)

// syntaxProblem turns a yaml.v3 parse error into a problem with a position. yaml.v3 reports the
// line of most errors but not the column, so the column is given where the cause is known: a
// value that YAML reads as an alias or anchor (an unquoted cron such as */5 * * * * is the
// classic), an unknown alias, or a tab in the indentation.
func syntaxProblem(err error, text string) Problem {
	msg := err.Error()
	p := Problem{Field: "descriptor", Solution: yamlSolution}
	detail := strings.TrimPrefix(msg, "yaml: ")
	if m := yamlLineErr.FindStringSubmatch(msg); m != nil {
		p.Line, _ = strconv.Atoi(m[1])
		detail = m[2]
	} else if m := yamlUnknownAnchor.FindStringSubmatch(msg); m != nil {
		p.Line, p.Column = findAlias(text, m[1])
	}
	lines := strings.Split(text, "\n")
	if p.Line > 0 && p.Line <= len(lines) {
		line := lines[p.Line-1]
		if m := aliasValue.FindStringSubmatchIndex(line); m != nil {
			key := ""
			if m[4] >= 0 {
				key = strings.Trim(line[m[4]:m[5]], `"'`)
			}
			value := strings.TrimSpace(line[m[6]:])
			p.Column = m[6] + 1
			what := map[string]string{"*": "an alias", "&": "an anchor"}[line[m[6]:m[7]]]
			subject := "a value"
			if key != "" {
				subject = "the value of " + key
			}
			p.Message = fmt.Sprintf("The descriptor is not valid YAML at line %d, column %d: %s starts with %q, which YAML reads as %s; it must be quoted",
				p.Line, p.Column, subject, line[m[6]:m[7]], what)
			quoted := strconv.Quote(value)
			if key != "" {
				p.Solution = fmt.Sprintf("Quote the value: %s: %s.", key, quoted)
			} else {
				p.Solution = fmt.Sprintf("Quote the value: %s.", quoted)
			}
			return p
		}
		if i := strings.IndexByte(line, '\t'); i >= 0 && strings.TrimLeft(line[:i], " ") == "" {
			p.Column = i + 1
			p.Message = fmt.Sprintf("The descriptor is not valid YAML at line %d, column %d: indentation uses a tab", p.Line, p.Column)
			p.Solution = "Indent YAML with spaces, never tabs."
			return p
		}
	}
	switch {
	case p.Line > 0 && p.Column > 0:
		p.Message = fmt.Sprintf("The descriptor is not valid YAML at line %d, column %d: %s", p.Line, p.Column, detail)
	case p.Line > 0:
		p.Message = fmt.Sprintf("The descriptor is not valid YAML at line %d: %s", p.Line, detail)
	default:
		p.Message = "The descriptor is not valid YAML: " + detail
	}
	return p
}

// findAlias locates the first unquoted use of *name in text (1-based line and column).
func findAlias(text, name string) (line, col int) {
	for i, l := range strings.Split(text, "\n") {
		for j := strings.Index(l, "*"+name); j >= 0; {
			end := j + 1 + len(name)
			if end == len(l) || strings.ContainsRune(" \t,]}", rune(l[end])) {
				return i + 1, j + 1
			}
			next := strings.Index(l[j+1:], "*"+name)
			if next < 0 {
				break
			}
			j += 1 + next
		}
	}
	return 0, 0
}
