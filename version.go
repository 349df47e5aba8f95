package distcron

import (
	"runtime/debug"
	"sync"
)

const modulePath = "github.com/distcron/distcron"

// Version returns the version of distcron linked into the running binary,
// as the Go toolchain recorded it in the build information: a release tag
// such as "v1.2.0", a pseudo-version for a commit, or "(devel)" for a
// build of this repository's own working tree. Instances advertise it in
// their registration.
func Version() string { return version() }

var version = sync.OnceValue(func() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(devel)"
	}
	return moduleVersion(bi)
})

// moduleVersion finds distcron's version in bi: a dependency of the main
// module, or the main module itself.
func moduleVersion(bi *debug.BuildInfo) string {
	if bi.Main.Path == modulePath && bi.Main.Version != "" {
		return bi.Main.Version
	}
	for _, d := range bi.Deps {
		if d.Path == modulePath {
			if d.Replace != nil && d.Replace.Version != "" {
				return d.Replace.Version
			}
			if d.Version != "" {
				return d.Version
			}
		}
	}
	return "(devel)"
}
