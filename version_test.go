package distcron

import (
	"runtime/debug"
	"testing"
)

func TestModuleVersion(t *testing.T) {
	tests := []struct {
		name string
		bi   debug.BuildInfo
		want string
	}{
		{"a dependency at a tag", debug.BuildInfo{Main: debug.Module{Path: "example.com/app", Version: "v0.3.0"},
			Deps: []*debug.Module{{Path: "go.uber.org/zap", Version: "v1.28.0"}, {Path: modulePath, Version: "v1.2.0"}}}, "v1.2.0"},
		{"a dependency replaced by a fork", debug.BuildInfo{Main: debug.Module{Path: "example.com/app"},
			Deps: []*debug.Module{{Path: modulePath, Version: "v1.2.0", Replace: &debug.Module{Path: "example.com/fork", Version: "v1.2.1"}}}}, "v1.2.1"},
		{"this repository's own binary", debug.BuildInfo{Main: debug.Module{Path: modulePath, Version: "v0.0.0-20261206231500-22c9354aaaaa"}}, "v0.0.0-20261206231500-22c9354aaaaa"},
		{"a dependency replaced by a directory", debug.BuildInfo{Main: debug.Module{Path: "example.com/app"},
			Deps: []*debug.Module{{Path: modulePath, Version: "v0.0.0-00010101000000-000000000000", Replace: &debug.Module{Path: "../distcron"}}}}, "v0.0.0-00010101000000-000000000000"},
		{"not linked (no build info of it)", debug.BuildInfo{Main: debug.Module{Path: "example.com/app"}}, "(devel)"},
	}
	for _, tt := range tests {
		if got := moduleVersion(&tt.bi); got != tt.want {
			t.Errorf("%s: moduleVersion = %q, want %q", tt.name, got, tt.want)
		}
	}
	if Version() == "" {
		t.Error("Version() is empty")
	}
}
