package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
)

// externalNodes are the systems whose node is a module of its own,
// outside the workspace, by the directory of its source next to this file.
// diagridio/go-etcd-cron v0.10.0 builds only against the etcd v3.5
// packages it requires, distcron needs v3.7 (see diagrid/main.go).
var externalNodes = map[string]string{"diagrid": "diagrid"}

// build runs "go build -o <tmp>/<name> pkg" in the source directory dir
// (relative to this file's), with GOWORK=off when noWork; the binaries go to
// the temporary directory tmp.
func build(tmp, name, dir, pkg string, noWork bool, log io.Writer) (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("no source path to find %s", dir)
	}
	src := filepath.Join(filepath.Dir(file), dir)
	bin := filepath.Join(tmp, name)
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	cmd.Dir = src
	cmd.Env = os.Environ()
	if noWork {
		cmd.Env = append(cmd.Env, "GOWORK=off")
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build %s in %s: %w", pkg, src, err)
	}
	return bin, nil
}
