// Package descriptor decodes what the Witboost provisioning Coordinator sends to a Tech Adapter
// (API 2.2.0) and holds every static rule of a CDE Spark workload, so that the API, the workflows
// and the activities all judge a descriptor the same way and report problems with the same words.
//
// The package is pure: no network, no Temporal, no clock. It does three things:
//
//   - Request.Decode checks the request envelope (only COMPONENT_DESCRIPTOR is served) and
//     decodes the YAML descriptor: the data product fields the provisioner needs and the one
//     component named by componentIdToProvision. Other components are never decoded, so a storage
//     or output-port component with a different shape cannot break a workload deployment.
//   - Validate applies the static rules (those of the reference Scala provisioner, with its
//     messages, plus the rules it lacked).
//   - The rules that need CDP or S3 (service and virtual-cluster status, artifact existence) are
//     checked by activities, but their messages, solutions and field paths live here too
//     (ServiceNotFound, ArtifactNotFound, ...), so every check reads alike.
//
// Every problem is a Problem: the message (for rules the reference knows, its message comes
// first), the path of the failing field in the descriptor
// (dataProduct.components[2].specific.jobConfig.driverMemory), a one-sentence solution, and the
// line and column in the YAML where it is known. Decode and Validate return all the problems
// they find, not only the first.
//
// Bad input never panics: the descriptor is bounded in size (MaxDescriptorBytes) before it is
// parsed, must be valid UTF-8, and is parsed into a yaml.Node tree that is walked only where the
// provisioner reads, so aliases are never expanded recursively and deep nesting outside the
// component is never visited (the parser itself stops at 10,000 levels).
package descriptor
