// Package deploy holds the checks of the deployment files, which no Docker engine or
// Kubernetes cluster runs here: the Dockerfile at the repository root (parsed, and its build
// command run), docker-compose.yml (loaded with compose-go, as `docker compose` would) and the
// Helm chart in helm/ (linted and rendered with the Helm CLI pinned in tools/helm). It has no
// code of its own beyond test helpers.
package deploy
