package descriptor

// NodeBound exposes nodeBound to the tests of package descriptor_test.
var NodeBound = nodeBound
