// The static determinism check of the workflow code (go.temporal.io/sdk/contrib/tools/workflowcheck),
// pinned as a tool in a module of its own so that its dependencies stay out of the main go.mod.
module github.com/witboost-community/cde-spark-provisioner/tools/workflowcheck

go 1.26.0

tool go.temporal.io/sdk/contrib/tools/workflowcheck

require (
	go.temporal.io/sdk/contrib/tools/workflowcheck v0.6.0 // indirect
	golang.org/x/mod v0.30.0 // indirect
	golang.org/x/sync v0.19.0 // indirect
	golang.org/x/tools v0.39.0 // indirect
	gopkg.in/yaml.v2 v2.4.0 // indirect
)
