// Package modgraph checks what a consumer of the library gets in its
// module graph.
package modgraph

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// Issue 12: a module that imported the root package, logsink and
// logsink/sqlsink got 133 modules, among them the test, example and tool
// dependencies of this repository. Now it gets what the library packages
// import. (go.uber.org/goleak is still listed: zap's go.mod requires it.)
func TestConsumerGetsNoTestOrToolModules(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	root, err := filepath.Abs(filepath.Join(filepath.Dir(file), "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/consumer\n\ngo 1.26.0\n\nrequire github.com/distcron/distcron v0.0.0-00010101000000-000000000000\n\nreplace github.com/distcron/distcron => "+root+"\n")
	write("main.go", `package main

import (
	"github.com/distcron/distcron"
	"github.com/distcron/distcron/logsink"
	"github.com/distcron/distcron/logsink/sqlsink"
)

var _ = distcron.New
var _ = logsink.NewDelivery
var _ = sqlsink.New

func main() {}
`)
	gocmd := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	gocmd("mod", "tidy")
	all := gocmd("list", "-m", "all")
	for _, bad := range []string{
		"github.com/FerretDB/", "github.com/SAP/go-hdb", "github.com/chromedp/", "github.com/jackc/pgx",
		"github.com/go-sql-driver/mysql", "modernc.org/sqlite", "go.etcd.io/etcd/server/", "go.etcd.io/bbolt",
		"go.etcd.io/raft/", "honnef.co/go/tools",
	} {
		for line := range strings.Lines(all) {
			if strings.HasPrefix(line, bad) {
				t.Errorf("the consumer's module graph has %s", strings.TrimSpace(line))
			}
		}
	}
	t.Logf("%d modules in the consumer's graph", strings.Count(all, "\n"))
	if mod, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && !strings.Contains(string(mod), "\ngo 1.26.0\n") {
		t.Errorf("go mod tidy raised the consumer's go line:\n%s", mod)
	}
}
