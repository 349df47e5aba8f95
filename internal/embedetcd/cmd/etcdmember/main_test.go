package main

import (
	"io"
	"strings"
	"testing"
)

func TestFlags(t *testing.T) {
	base := []string{"-name", "m1", "-dir", "/tmp/m1", "-client-url", "http://127.0.0.1:1", "-peer-url", "http://127.0.0.1:2"}
	mc, opts, err := parseFlags(base, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if mc.InitialCluster != "m1=http://127.0.0.1:2" || mc.Existing || opts.NoFsync {
		t.Errorf("defaults: %+v %+v", mc, opts)
	}
	mc, opts, err = parseFlags(append(base, "-initial-cluster", "m0=a,m1=b", "-initial-cluster-state", "existing", "-no-fsync"), io.Discard)
	if err != nil || mc.InitialCluster != "m0=a,m1=b" || !mc.Existing || !opts.NoFsync {
		t.Errorf("parsed %+v %+v, %v", mc, opts, err)
	}
	for _, args := range [][]string{
		base[2:],
		append(base, "-initial-cluster-state", "old"),
		append(base, "extra"),
		{"-bogus"},
	} {
		var stderr strings.Builder
		if code := run(args, io.Discard, &stderr); code != 2 {
			t.Errorf("run(%q) = %d, want 2", args, code)
		}
	}
}
