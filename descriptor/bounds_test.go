package descriptor_test

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/witboost-community/cde-spark-provisioner/descriptor"
)

// The worst cases of decoding: descriptors up to descriptor.MaxDescriptorBytes built to make the
// parser or the decoder work as hard as a request can make them.

// fill appends unit to b until b holds about size bytes, then closes with end.
func fill(b *strings.Builder, size int, unit, end string) string {
	for b.Len()+len(unit)+len(end) <= size {
		b.WriteString(unit)
	}
	b.WriteString(end)
	return b.String()
}

const worstHead = "componentIdToProvision: urn:dmb:cmp:finance:cashflow:0:spark-wl\n" +
	"dataProduct:\n  id: urn:dmb:dp:finance:cashflow:0\n  environment: development\n"

// worstAliasFanOut: one anchored mapping of thousands of keys, referenced as every component.
func worstAliasFanOut() string {
	var b strings.Builder
	b.WriteString("big: &a {")
	for i := range 5000 {
		fmt.Fprintf(&b, "k%d: v, ", i)
	}
	b.WriteString("}\n" + worstHead + "  components: [")
	return fill(&b, descriptor.MaxDescriptorBytes, "*a,", "*a]\n")
}

// worstDeepNesting: flow sequences nested as deep as the YAML parser allows.
func worstDeepNesting() string {
	return worstHead + "  components: " + strings.Repeat("[", 9990) + strings.Repeat("]", 9990) + "\n"
}

// worstDeepBlockNesting: block sequences nested on one line, as deep as the parser allows.
func worstDeepBlockNesting() string {
	return worstHead + "  components:\n    " + strings.Repeat("- ", 9990) + "x\n"
}

// worstLongFlowSequence: the workload's args, one flow sequence of a million short items.
func worstLongFlowSequence(t testing.TB) string {
	doc := descriptorDoc()
	jobConfig(doc)["args"] = "ARGS"
	var b strings.Builder
	text := marshal(t, doc)
	before, after, _ := strings.Cut(text, "ARGS")
	b.WriteString(before + "[")
	return fill(&b, descriptor.MaxDescriptorBytes-len(after), "a,", "a]") + after
}

// worstDuplicateKeys: the workload's specific given the same key over and over, one problem each.
func worstDuplicateKeys(t testing.TB) string {
	doc := descriptorDoc()
	specific(doc)["zz"] = "DUP"
	text := marshal(t, doc)
	before, after, _ := strings.Cut(text, "zz: DUP\n")
	indent := before[strings.LastIndexByte(before, '\n')+1:]
	var b strings.Builder
	b.WriteString(before + "zz: 1\n")
	return fill(&b, descriptor.MaxDescriptorBytes-len(after), indent+"zz: 1\n", indent+"zz: 1\n") + after
}

// worstThousandsOfComponents: the spark-jar example with its storage component repeated (each
// with its own id) up to the limit: the largest realistic descriptor.
func worstThousandsOfComponents(t testing.TB) string {
	raw, err := os.ReadFile(filepath.Join("..", "examples", "spark-jar.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	i, j := strings.Index(s, "    - kind: storage"), strings.Index(s, "    - kind: workload")
	storage, tail := s[i:j], s[i:]
	var b strings.Builder
	b.WriteString(s[:i])
	for n := 0; b.Len()+len(storage)+len(tail)+8 <= descriptor.MaxDescriptorBytes; n++ {
		b.WriteString(strings.Replace(storage, "raw-storage", fmt.Sprintf("raw-storage-%d", n), 1))
	}
	b.WriteString(tail)
	return b.String()
}

// atTheBound repeats unit between before and after as many times as MaxDescriptorNodes allows
// (and the byte limit): the largest descriptor of that shape that is parsed.
func atTheBound(t testing.TB, before, unit, after string) string {
	base := descriptor.NodeBound(before+after, math.MaxInt)
	per := descriptor.NodeBound(before+unit+unit+after, math.MaxInt) - descriptor.NodeBound(before+unit+after, math.MaxInt)
	count := (descriptor.MaxDescriptorNodes - base) / per
	count = min(count, (descriptor.MaxDescriptorBytes-len(before)-len(after))/len(unit))
	text := before + strings.Repeat(unit, count) + after
	for descriptor.NodeBound(text, math.MaxInt) > descriptor.MaxDescriptorNodes {
		count--
		text = before + strings.Repeat(unit, count) + after
	}
	return text
}

// The shapes above, as large as the node bound lets them be.
func worstAtTheBound(t testing.TB) []worstCase {
	var big strings.Builder
	big.WriteString("big: &a {")
	for i := range 5000 {
		fmt.Fprintf(&big, "k%d: v, ", i)
	}
	big.WriteString("}\n" + worstHead + "  components: [")
	fanOut := atTheBound(t, big.String(), "*a,", "*a]\n")

	doc := descriptorDoc()
	jobConfig(doc)["args"] = "ARGS"
	argsBefore, argsAfter, _ := strings.Cut(marshal(t, doc), "ARGS")
	flowSeq := atTheBound(t, argsBefore+"[", "a,", "a]"+argsAfter)

	doc = descriptorDoc()
	jobConfig(doc)["dependencies"] = "DEPS"
	depsBefore, depsAfter, _ := strings.Cut(marshal(t, doc), "DEPS")
	deps := atTheBound(t, depsBefore+"[", "x,", "x]"+depsAfter)

	doc = descriptorDoc()
	specific(doc)["zz"] = "DUP"
	dupBefore, dupAfter, _ := strings.Cut(marshal(t, doc), "zz: DUP\n")
	indent := dupBefore[strings.LastIndexByte(dupBefore, '\n')+1:]
	dup := atTheBound(t, dupBefore+"zz: 1\n", indent+"zz: 1\n", dupAfter)

	blockSeq := atTheBound(t, worstHead+"  components:\n", "  - a\n", "")
	return []worstCase{
		{"AliasFanOutAtTheBound", fanOut},
		{"LongFlowSequenceAtTheBound", flowSeq},
		{"ManyWrongDependenciesAtTheBound", deps},
		{"DuplicateKeysAtTheBound", dup},
		{"BlockSequenceAtTheBound", blockSeq},
	}
}

type worstCase struct {
	name string
	text string
}

func worstCases(t testing.TB) []worstCase {
	return []worstCase{
		{"AliasFanOut", worstAliasFanOut()},
		{"DeepNesting", worstDeepNesting()},
		{"DeepBlockNesting", worstDeepBlockNesting()},
		{"LongFlowSequence", worstLongFlowSequence(t)},
		{"DuplicateKeys", worstDuplicateKeys(t)},
		{"ThousandsOfComponents", worstThousandsOfComponents(t)},
	}
}

func allWorstCases(t testing.TB) []worstCase { return append(worstCases(t), worstAtTheBound(t)...) }

func benchmarkWorstCase(b *testing.B, name string) {
	for _, c := range allWorstCases(b) {
		if c.name != name {
			continue
		}
		if len(c.text) > descriptor.MaxDescriptorBytes {
			b.Fatalf("%s is %d bytes, above the limit", name, len(c.text))
		}
		b.SetBytes(int64(len(c.text)))
		b.ReportAllocs()
		for b.Loop() {
			descriptor.Check(c.text)
		}
		return
	}
	b.Fatalf("no worst case %s", name)
}

func BenchmarkDecodeWorstCaseAliasFanOut(b *testing.B) { benchmarkWorstCase(b, "AliasFanOut") }
func BenchmarkDecodeWorstCaseDeepNesting(b *testing.B) { benchmarkWorstCase(b, "DeepNesting") }
func BenchmarkDecodeWorstCaseDeepBlockNesting(b *testing.B) {
	benchmarkWorstCase(b, "DeepBlockNesting")
}
func BenchmarkDecodeWorstCaseLongFlowSequence(b *testing.B) {
	benchmarkWorstCase(b, "LongFlowSequence")
}
func BenchmarkDecodeWorstCaseDuplicateKeys(b *testing.B) { benchmarkWorstCase(b, "DuplicateKeys") }
func BenchmarkDecodeWorstCaseThousandsOfComponents(b *testing.B) {
	benchmarkWorstCase(b, "ThousandsOfComponents")
}
func BenchmarkDecodeWorstCaseAliasFanOutAtTheBound(b *testing.B) {
	benchmarkWorstCase(b, "AliasFanOutAtTheBound")
}
func BenchmarkDecodeWorstCaseLongFlowSequenceAtTheBound(b *testing.B) {
	benchmarkWorstCase(b, "LongFlowSequenceAtTheBound")
}
func BenchmarkDecodeWorstCaseManyWrongDependenciesAtTheBound(b *testing.B) {
	benchmarkWorstCase(b, "ManyWrongDependenciesAtTheBound")
}
func BenchmarkDecodeWorstCaseDuplicateKeysAtTheBound(b *testing.B) {
	benchmarkWorstCase(b, "DuplicateKeysAtTheBound")
}
func BenchmarkDecodeWorstCaseBlockSequenceAtTheBound(b *testing.B) {
	benchmarkWorstCase(b, "BlockSequenceAtTheBound")
}

// BenchmarkDecodeExample is the everyday case: the spark-jar example.
func BenchmarkDecodeExample(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join("..", "examples", "spark-jar.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		descriptor.Check(string(raw))
	}
}

// countNodes counts the nodes of yaml.v3's trees of text, as parseYAML has it parse them (at
// most two documents), and whether it parsed.
func countNodes(text string) (int, bool) {
	dec := yaml.NewDecoder(strings.NewReader(text))
	total := 0
	for range 2 {
		var root yaml.Node
		if err := dec.Decode(&root); err != nil {
			return total, errors.Is(err, io.EOF)
		}
		var walk func(n *yaml.Node)
		walk = func(n *yaml.Node) {
			total++
			for _, c := range n.Content {
				walk(c)
			}
		}
		walk(&root)
	}
	return total, true
}

// nodeBoundSeeds are texts whose count is easy to get wrong: empty keys and values, flow
// collections, comments, quotes, anchors and tags.
var nodeBoundSeeds = []string{
	"a:", ":", "- :", "-\n-\n-", "? \n? \n", "[:,:,:]", "{a,b,c}", "{a}", "[?]", "[? : ]", "- ? : ",
	"a: # c\nb:", "a: &x\nb: *x", "[a: b, c: d]", "[ :a, :b ]", "[a :b]", "- - - - x", "a: !!str", "--- a\n--- b",
	"---\n...\n", "{a: [b, {c: d}], e: ''}", "\"a #\": [x, y]", "a: |\n  b: c\n", "[a,,b]", "k: [ ? ]", "[-]",
	"a:\n- b\n- c\n", "[a:]", "{? a}", "- [a, b]: c", "x: {a: , : b}", "\t- a", "a: 'x'\n'b': \"y\"",
	"[\na: 1,\na: 1]", "[\na: 1\n,a: 1\n,a: 1]", "- \"x\n  a: 1\"\n  b: 2", "x: |\n  a: 1\n  a: 2\n", "a: 1\nb: 2\n",
	"a:\n  b: 1\n  c: 2\nd: 3\n", "[\n a: 1\n ,\n a: 1]", "{\na: 1,\nb: 2}", "- a: 1\n  b: 2\n- c: 3\n", "&x a: 1\n*x : 2\n",
}

// FuzzNodeBound checks that nodeBound never counts fewer nodes than yaml.v3 builds: the bound
// that keeps decoding cheap must not let a request past it.
func FuzzNodeBound(f *testing.F) {
	for _, s := range nodeBoundSeeds {
		f.Add(s)
	}
	examples, _ := filepath.Glob(filepath.Join("..", "examples", "*.yaml"))
	for _, name := range examples {
		raw, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(raw))
	}
	f.Fuzz(func(t *testing.T, text string) {
		if len(text) > 1<<16 {
			return
		}
		nodes, _ := countNodes(text)
		if bound := descriptor.NodeBound(text, math.MaxInt); bound < nodes {
			t.Fatalf("nodeBound counts %d nodes, yaml.v3 builds %d, for %q", bound, nodes, text)
		}
	})
}

func TestNodeBoundIsCloseOnRealisticDescriptors(t *testing.T) {
	for _, c := range []worstCase{{"ThousandsOfComponents", worstThousandsOfComponents(t)}} {
		nodes, ok := countNodes(c.text)
		require.True(t, ok)
		bound := descriptor.NodeBound(c.text, math.MaxInt)
		t.Logf("%s: %d nodes, bound %d (%.2f)", c.name, nodes, bound, float64(bound)/float64(nodes))
		require.GreaterOrEqual(t, bound, nodes)
		require.LessOrEqual(t, bound, descriptor.MaxDescriptorNodes, "the largest realistic descriptor is accepted")
	}
}

// Every worst case is answered, accepted or with clear problems, and within the allocation
// budget of a request (64 MiB; what the decoder allocates is measured over one call, with a
// margin left for the test binary's own goroutines).
func TestWorstCasesAreBounded(t *testing.T) {
	const budget = 64 << 20
	for _, c := range allWorstCases(t) {
		t.Run(c.name, func(t *testing.T) {
			require.LessOrEqual(t, len(c.text), descriptor.MaxDescriptorBytes)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			d, problems := descriptor.Check(c.text)
			runtime.ReadMemStats(&after)
			allocated := after.TotalAlloc - before.TotalAlloc
			t.Logf("%d bytes: %d problems, %d MiB allocated", len(c.text), len(problems), allocated>>20)
			require.False(t, d == nil && len(problems) == 0, "no descriptor and no problem")
			require.LessOrEqual(t, len(problems), descriptor.MaxProblems+1)
			for _, p := range problems {
				require.NotEmpty(t, p.Field, "%+v", p)
				require.NotEmpty(t, p.Message, "%+v", p)
				require.NotEmpty(t, p.Solution, "%+v", p)
			}
			if len(problems) > 0 {
				t.Logf("first problem: %s: %s", problems[0].Field, problems[0].Message)
			}
			require.LessOrEqual(t, allocated, uint64(budget), "allocated %d MiB", allocated>>20)
		})
	}
}
