//go:build linux && (amd64 || arm64)

package executor

import (
	"context"
	"testing"
)

// BenchmarkCommandSupervised and BenchmarkCommandUnsupervised run
// /bin/sh -c true; their difference is the supervisor's start-up cost.
func BenchmarkCommandSupervised(b *testing.B)   { benchmarkTrue(b, false) }
func BenchmarkCommandUnsupervised(b *testing.B) { benchmarkTrue(b, true) }

func benchmarkTrue(b *testing.B, unsupervised bool) {
	c := Shell("true")
	c.Unsupervised = unsupervised
	for b.Loop() {
		if res := c.Execute(context.Background()); res.Err != nil {
			b.Fatal(res.Err)
		}
	}
}
