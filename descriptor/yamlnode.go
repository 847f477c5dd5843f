package descriptor

import (
	"fmt"
	"math"
	"strconv"

	"gopkg.in/yaml.v3"
)

// decoder walks the parsed yaml.Node tree where the provisioner reads it, collecting problems
// with field paths and positions instead of stopping at the first one. Walking nodes by hand
// (rather than yaml.Node.Decode into structs) is what gives every problem its path, turns a
// wrong type into a sentence, detects duplicate keys, and keeps alias expansion bounded: a node
// is only ever read where a scalar, a list of scalars or a flat map is expected.
type decoder struct {
	problems Problems
	// dropped counts the problems past MaxProblems, which are not kept.
	dropped int
	// ids memoizes componentIDOf by node: a component list of aliases to one large mapping
	// reads that mapping once, not once per alias.
	ids map[*yaml.Node]*yaml.Node
	// pos records where each decoded field was, so rules checked later on the plain structs can
	// still point at a line and column.
	pos map[string]position
}

type position struct{ line, column int }

func (d *decoder) add(p Problem, n *yaml.Node) {
	if n != nil && p.Line == 0 {
		p.Line, p.Column = n.Line, n.Column
	}
	if len(d.problems) >= MaxProblems {
		d.dropped++
		return
	}
	d.problems = append(d.problems, p)
}

func (d *decoder) mark(path string, n *yaml.Node) {
	if n != nil {
		d.pos[path] = position{n.Line, n.Column}
	}
}

// deref follows an alias to its anchored node. An anchor cannot itself hold an alias, so one
// step is enough.
func deref(n *yaml.Node) *yaml.Node {
	if n != nil && n.Kind == yaml.AliasNode {
		return n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	n = deref(n)
	return n == nil || n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// describe names what a node is, for "must be X, got Y" messages.
func describe(n *yaml.Node) string {
	n = deref(n)
	switch {
	case n == nil || isNull(n):
		return "nothing (null)"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Kind == yaml.ScalarNode:
		switch n.Tag {
		case "!!int", "!!float":
			return "the number " + n.Value
		case "!!bool":
			return "the boolean " + n.Value
		}
		return strconv.Quote(truncate(n.Value, 60))
	}
	return "an unsupported YAML node"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// fields is a decoded mapping: its values by key, and where each key was.
type fields struct {
	path   string
	values map[string]*yaml.Node
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// mapping reads a mapping node's keys. Keys that are not plain scalars are ignored (the
// provisioner reads none of them); a key given twice is a problem, because YAML parsers disagree
// on which value wins.
func (d *decoder) mapping(n *yaml.Node, path string) (fields, bool) {
	f := fields{path: path, values: map[string]*yaml.Node{}}
	n = deref(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return f, false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if k.Kind != yaml.ScalarNode {
			continue
		}
		key := k.Value
		if k.Tag == "!!null" { // `~: x` or `: x` is a null key, i.e. an empty name
			key = ""
		}
		if _, dup := f.values[key]; dup {
			if len(d.problems) >= MaxProblems {
				d.dropped++ // not even formatted: a key may be repeated a hundred thousand times
				continue
			}
			d.add(Problem{
				Field:    join(path, key),
				Message:  fmt.Sprintf("%s is given more than once", join(path, key)),
				Solution: "Keep one " + strconv.Quote(key) + " entry and remove the others.",
			}, k)
			continue
		}
		f.values[key] = n.Content[i+1]
	}
	return f, true
}

// node returns the value node of key (aliases followed) or nil when absent or null.
func (f fields) node(key string) *yaml.Node {
	n := f.values[key]
	if isNull(n) {
		return nil
	}
	return deref(n)
}

func (d *decoder) typeProblem(path, want string, n *yaml.Node, example string) {
	sol := fmt.Sprintf("Write %s as %s", path, want)
	if example != "" {
		sol += ", e.g. " + example
	}
	d.add(Problem{
		Field:    path,
		Message:  fmt.Sprintf("%s must be %s, got %s", path, want, describe(n)),
		Solution: sol + ".",
	}, deref(n))
}

// str reads an optional string: any scalar is taken as written (YAML may read `3.7` as a number,
// but the user meant the text). ok is false when the key is absent, null or of the wrong type.
func (d *decoder) str(f fields, key string) (string, bool) {
	n := f.node(key)
	if n == nil {
		return "", false
	}
	path := join(f.path, key)
	if n.Kind != yaml.ScalarNode {
		d.typeProblem(path, "a string", n, "")
		return "", false
	}
	d.mark(path, n)
	return n.Value, true
}

// required reads a string that must be present and non-empty.
func (d *decoder) required(f fields, key, solution string) string {
	path := join(f.path, key)
	if _, present := f.values[key]; !present || isNull(f.values[key]) {
		d.add(Problem{Field: path, Message: path + " is missing", Solution: solution}, nil)
		return ""
	}
	v, ok := d.str(f, key)
	if ok && v == "" {
		d.add(Problem{Field: path, Message: path + " is empty", Solution: solution}, f.node(key))
	}
	return v
}

// integer reads an optional whole number. Quoted numbers are refused: the templates render them
// unquoted, and a quoted one usually hides a templating mistake.
func (d *decoder) integer(f fields, key string) *int {
	n := f.node(key)
	if n == nil {
		return nil
	}
	path := join(f.path, key)
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		d.typeProblem(path, "a whole number without quotes", n, key+": 2")
		return nil
	}
	var v int64
	if err := n.Decode(&v); err != nil || v > math.MaxInt32 || v < math.MinInt32 {
		d.add(Problem{Field: path, Message: fmt.Sprintf("%s is out of range: %s", path, truncate(n.Value, 40)),
			Solution: "Write " + path + " as a small whole number, e.g. " + key + ": 2."}, n)
		return nil
	}
	d.mark(path, n)
	i := int(v)
	return &i
}

// strings reads an optional list of scalars.
func (d *decoder) strings(f fields, key string) []string {
	n := f.node(key)
	if n == nil {
		return nil
	}
	path := join(f.path, key)
	if n.Kind != yaml.SequenceNode {
		d.typeProblem(path, "a list of strings", n, key+": [\"a\", \"b\"]")
		return nil
	}
	d.mark(path, n)
	out := make([]string, 0, len(n.Content))
	for i, item := range n.Content {
		ip := path + "[" + strconv.Itoa(i) + "]"
		item = deref(item)
		if item == nil || item.Kind != yaml.ScalarNode || isNull(item) {
			d.typeProblem(ip, "a string", item, "")
			continue
		}
		d.mark(ip, item)
		out = append(out, item.Value)
	}
	return out
}

// stringMap reads an optional flat map whose values are scalars.
func (d *decoder) stringMap(f fields, key string) map[string]string {
	n := f.node(key)
	if n == nil {
		return nil
	}
	path := join(f.path, key)
	m, ok := d.mapping(n, path)
	if !ok {
		d.typeProblem(path, "a mapping of Spark properties to values", n, key+": {spark.sql.shuffle.partitions: \"200\"}")
		return nil
	}
	d.mark(path, n)
	out := make(map[string]string, len(m.values))
	for k, v := range m.values {
		v = deref(v)
		if v == nil || v.Kind != yaml.ScalarNode || isNull(v) {
			d.add(ConfValueInvalid.At(path, fmt.Sprintf("%q is %s", k, describe(v))), v)
			continue
		}
		out[k] = v.Value
	}
	return out
}
