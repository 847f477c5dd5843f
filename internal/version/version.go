// Package version holds the build's version information. The release build stamps it with
// the linker (see the Dockerfile):
//
//	-ldflags "-X github.com/witboost-community/cde-spark-provisioner/internal/version.Version=v1.2.3
//	          -X github.com/witboost-community/cde-spark-provisioner/internal/version.Commit=abc1234
//	          -X github.com/witboost-community/cde-spark-provisioner/internal/version.Date=2026-11-29T16:00:00Z"
//
// They are variables, not constants, because -X can only set package-level string variables.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

var (
	// Version is the release (a tag such as v1.2.3), "dev" when not stamped.
	Version = "dev"
	// Commit is the git commit the binary was built from; when not stamped, the VCS revision
	// that `go build` records inside a git checkout, else "unknown".
	Commit = ""
	// Date is the build time (RFC 3339), "unknown" when not stamped.
	Date = "unknown"
)

// commit is Commit, falling back to the revision `go build` embeds (-buildvcs), so that a
// plain `go build` in a checkout still says which commit it is.
func commit() string {
	if Commit != "" {
		return Commit
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && s.Value != "" {
				return s.Value
			}
		}
	}
	return "unknown"
}

// String is the one-line version of program: "api v1.2.3 (commit abc1234, built …, go1.26.8)".
func String(program string) string {
	return fmt.Sprintf("%s %s (commit %s, built %s, %s)", program, Version, commit(), Date, runtime.Version())
}

// Requested reports whether args (the command line without the program name) ask for the
// version: -version or --version before any "--". The api and the worker take no other flags
// (they are configured from the environment), so they check this before anything else.
func Requested(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-version", "--version", "-version=true", "--version=true":
			return true
		}
	}
	return false
}
