//go:build race

package executor

// raceBuild is true in binaries built with -race.
const raceBuild = true
