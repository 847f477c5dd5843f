package descriptor

// MaxDescriptorNodes bounds the YAML nodes (keys, values, list items, lists, mappings and
// aliases) of a descriptor. yaml.v3 builds a node tree of the whole document before anything is
// read from it, at about 1.5 µs and 250 bytes a node: without a bound, 2 MiB of `[a,a,a,...`
// costs a second of CPU and half a GiB of allocations. The largest realistic descriptor of the
// size limit (2,800 components of the examples' shape) holds 132,000 nodes, counted 170,000 by
// nodeBound: it is accepted, and decodes in about 170 ms with 35 MiB allocated.
const MaxDescriptorNodes = 180_000

// nodeBound returns an upper bound of the number of nodes yaml.v3 builds for text (both
// documents, when there are two), or a number above limit as soon as it exceeds it. It reads the
// text once, byte by byte, without parsing it: it does not know quotes, comments or block
// scalars, so whatever is inside them counts as if it were YAML structure. Counting more than
// there is keeps it a bound; it is close enough on realistic descriptors (about 1.5 times the
// real count) for MaxDescriptorNodes to accept them.
//
// What is counted, on each line:
//   - a word (a run of bytes between blanks, flow indicators and indicators) that follows a
//     blank, the start of the line, an indicator or a flow indicator: 1 (a scalar or an alias;
//     the anchor, tag or quote that opens a node starts its word). A word that directly follows
//     another word (a plain scalar with spaces, an anchor then its value) is part of the same
//     node; a word opened by # after a blank starts a comment, which builds no node.
//   - each of , [ { }: 1 (a flow collection, or the empty value of a key without one); ]: 0.
//   - a - followed by a blank or the end of the line (a block sequence entry): 1 for the
//     sequence, and 1 more when no value follows on the line (an empty entry).
//   - a : followed by a blank, the end of the line or a flow indicator, or opening a word
//     (yaml.v3 reads those as values indicators in flow collections): 1 for the mapping, 1 more
//     when no key precedes it on the line (an empty key), 1 more when no value follows (an
//     empty value).
//   - any ?: 3 (a mapping with an empty key and an empty value).
//
// except that the : of a key that opens its line, when the line above also opened with a key at
// the same indentation and neither line holds a flow indicator or a ?, counts no mapping: the
// two keys are in the same block mapping. (In a flow sequence, where each key opens a mapping of
// its own, two entries are separated by a comma on one of the two lines; a line inside a quoted
// or block scalar builds no node at all.)
//
// plus the document nodes. FuzzNodeBound checks the bound against yaml.v3's trees.
func nodeBound(text string, limit int) int {
	n := 4 // two documents, each perhaps with an empty node
	// prev is what precedes the current position on the line: its start (0), a word ('w'), a
	// comment ('#'), an indicator (':', '-', '?') or a flow indicator.
	var prev byte
	space := false        // a blank since prev
	pendingValue := false // an indicator whose value has not shown on the line yet
	value := func() {     // the pending indicator gets an empty value
		if pendingValue {
			n++
			pendingValue = false
		}
	}
	// The line, for the mapping of a key that opens it.
	indent, tabIndent := 0, false
	kind := lineEmpty
	flow := false       // the line holds a flow indicator or a ?
	prevKeyIndent := -1 // the indentation of the previous line when it was a plain key line
	newLine := func() {
		if kind != lineEmpty {
			prevKeyIndent = -1
			if kind == lineKey && !flow && !tabIndent {
				prevKeyIndent = indent
			}
		}
		indent, tabIndent, kind, flow = 0, false, lineEmpty, false
	}
	other := func() {
		if kind != lineKey {
			kind = lineOther
		}
	}
	for i := 0; i < len(text) && n <= limit; {
		c := text[i]
		next := byte('\n')
		if i+1 < len(text) {
			next = text[i+1]
		}
		wordStart := prev != 'w' && prev != '#' || space
		switch {
		case c == '\n' || c == '\r':
			value()
			newLine()
			prev, space = 0, false
			i++
		case c == ' ' || c == '\t':
			if kind == lineEmpty {
				indent++
				tabIndent = tabIndent || c == '\t'
			}
			space = true
			i++
		case isFlowIndicator(c) || c == '?':
			value()
			switch c {
			case '?':
				n += 3
			case ']': // no node: an empty value before ] is a : or a ? counted as such
			default:
				n++
			}
			other()
			flow = true
			prev, space = c, false
			i++
		case c == '-' && wordStart && isBlankz(next):
			value()
			n++
			other()
			pendingValue = true
			prev, space = c, false
			i++
		case c == ':' && (wordStart || isBlankz(next) || isFlowIndicator(next)):
			value()
			if kind == lineWord && prev == 'w' {
				kind = lineKey
				// A key opening its line, below a key line at the same indentation: both in the
				// same block mapping.
				if indent != prevKeyIndent || flow || tabIndent {
					n++
				}
			} else {
				other()
				n++
			}
			if prev != 'w' {
				n++ // no key before it
			}
			pendingValue = true
			prev, space = c, false
			i++
		default:
			// A word, up to a blank, a flow indicator, a ? or an indicator :.
			switch {
			case prev == 'w' || prev == '#':
				// The same node as the word before (a plain scalar with spaces, an anchor or a tag
				// and its value), or a comment.
			case c == '#' && (space || prev == 0):
				prev = '#' // a comment (or # in a quoted scalar, whose node has its word)
				other()
			default:
				if kind == lineEmpty {
					kind = lineWord
				} else {
					other()
				}
				n++
				pendingValue = false
				prev = 'w'
			}
			space = false
			for i++; i < len(text); i++ {
				c := text[i]
				if isBlankz(c) || isFlowIndicator(c) || c == '?' {
					break
				}
				if c == ':' && (i+1 == len(text) || isBlankz(text[i+1]) || isFlowIndicator(text[i+1])) {
					break
				}
			}
		}
	}
	value()
	return n
}

// The kinds of line, for the mapping of a key that opens it.
const (
	lineEmpty = iota // nothing but blanks so far
	lineWord         // one word (perhaps with spaces) opens the line
	lineKey          // a key opens the line: a word and its :
	lineOther        // anything else: a comment, an indicator, a flow indicator
)

func isBlankz(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isFlowIndicator(c byte) bool {
	return c == ',' || c == '[' || c == ']' || c == '{' || c == '}'
}
