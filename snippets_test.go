package distcron

import (
	"bufio"
	"bytes"
	"fmt"
	"go/ast"
	"go/doc/comment"
	"go/parser"
	"go/token"
	"go/types"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// The Go code of the docs compiles as written (issue 12): every ```go
// block of README.md and docs/*.md, and every code block of the package
// comment in doc.go except the listings named in docNotGo. Each is
// type-checked by `go vet` in a package of its own, in a temporary module
// of this repository's workspace (so it may import the library, its
// dependencies and those of the nested modules, such as SQL drivers).
//
// A snippet is one of:
//
//   - a Go file: it starts with a package clause and is used as is;
//   - declarations (funcs, types, vars), with or without an import block: it
//     is put after "package snippet". Without an import block, it gets
//     imports for the packages it names, from snippetImports; with one,
//     the block must be complete. Statements outside a func are not a
//     snippet: they would use variables the reader cannot see;
//   - a listing of a package's types, whose first line is
//     "// From package <name>:" (as the README shows logsink.Querier):
//     each type it declares must be identical to that package's (same
//     fields, same methods), and the names it uses are that package's.
//
// The test needs the go command; it is skipped when go is not on PATH.
func TestDocSnippetsCompile(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH")
	}
	root, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	var snippets []snippet
	mds, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	for _, md := range append([]string{filepath.Join(root, "README.md")}, mds...) {
		snippets = append(snippets, markdownSnippets(t, md)...)
	}
	snippets = append(snippets, docCommentSnippets(t, filepath.Join(root, "doc.go"))...)
	if len(snippets) < 5 {
		t.Fatalf("found %d Go snippets in the docs; the extraction is broken", len(snippets))
	}

	tmp := t.TempDir()
	work := "go 1.26.0\n\nuse (\n\t./snippets\n"
	for _, m := range []string{".", "tests", "examples", "internal/embedetcd", "distcrontest", "cmd/distcron"} {
		work += "\t" + filepath.Join(root, m) + "\n"
	}
	work += ")\n"
	writeFile(t, filepath.Join(tmp, "go.work"), work)
	if sum, err := os.ReadFile(filepath.Join(root, "go.work.sum")); err == nil {
		writeFile(t, filepath.Join(tmp, "go.work.sum"), string(sum))
	}
	mod := filepath.Join(tmp, "snippets")
	writeFile(t, filepath.Join(mod, "go.mod"), "module snippets\n\ngo 1.26.0\n")
	origin := map[string]snippet{}
	for i, s := range snippets {
		src, err := s.file()
		if err != nil {
			t.Errorf("%s: %v", s.where, err)
			continue
		}
		dir := fmt.Sprintf("s%02d", i)
		origin[dir] = s
		writeFile(t, filepath.Join(mod, dir, "snippet.go"), src)
	}
	if t.Failed() {
		return
	}
	cmd := exec.Command(gobin, "vet", "./...")
	cmd.Dir = mod
	cmd.Env = append(os.Environ(), "GOWORK="+filepath.Join(tmp, "go.work"), "GOTOOLCHAIN=local", "GOFLAGS=")
	out, err := cmd.CombinedOutput()
	if err == nil {
		return
	}
	// Say which snippet each message is about.
	failed := map[string]bool{}
	for _, m := range regexp.MustCompile(`s\d\d[/\\]snippet\.go`).FindAllString(string(out), -1) {
		failed[m[:3]] = true
	}
	var report strings.Builder
	for _, dir := range slices.Sorted(maps.Keys(failed)) {
		src, _ := os.ReadFile(filepath.Join(mod, dir, "snippet.go"))
		fmt.Fprintf(&report, "\n%s is the snippet at %s:\n%s", dir, origin[dir].where, numbered(string(src)))
	}
	t.Fatalf("go vet of the docs' Go snippets: %v\n%s%s", err, out, report.String())
}

// docNotGo lists the code blocks of doc.go that are not Go, by the start
// of their first line.
var docNotGo = []string{
	"instances/<id>", // the key layout
}

// snippetImports are the packages a snippet without an import block may
// name, by package name.
var snippetImports = map[string]string{
	"context":      "context",
	"errors":       "errors",
	"fmt":          "fmt",
	"log":          "log",
	"http":         "net/http",
	"os":           "os",
	"signal":       "os/signal",
	"sql":          "database/sql",
	"syscall":      "syscall",
	"testing":      "testing",
	"time":         "time",
	"clientv3":     "go.etcd.io/etcd/client/v3",
	"mongo":        "go.mongodb.org/mongo-driver/v2/mongo",
	"options":      "go.mongodb.org/mongo-driver/v2/mongo/options",
	"zap":          "go.uber.org/zap",
	"distcron":     "github.com/distcron/distcron",
	"admin":        "github.com/distcron/distcron/admin",
	"executor":     "github.com/distcron/distcron/executor",
	"logsink":      "github.com/distcron/distcron/logsink",
	"metrics":      "github.com/distcron/distcron/metrics",
	"mongosink":    "github.com/distcron/distcron/logsink/mongosink",
	"notify":       "github.com/distcron/distcron/notify",
	"sinktest":     "github.com/distcron/distcron/logsink/sinktest",
	"sqlsink":      "github.com/distcron/distcron/logsink/sqlsink",
	"distcrontest": "github.com/distcron/distcron/distcrontest",
}

type snippet struct {
	where string // file:line
	code  string
}

var listingRE = regexp.MustCompile(`^// From package (\w+):`)

// file returns the snippet as a Go file, following the rules of
// TestDocSnippetsCompile.
func (s snippet) file() (string, error) {
	code := strings.TrimSpace(s.code) + "\n"
	if strings.HasPrefix(code, "package ") {
		return code, nil
	}
	src := "package snippet\n\n" + code
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "snippet.go", src, parser.ParseComments)
	if err != nil {
		return "", fmt.Errorf("not a Go file nor declarations (statements belong in a func): %v", err)
	}
	if m := listingRE.FindStringSubmatch(code); m != nil {
		return listing(fset, f, src, m[1])
	}
	if len(f.Imports) > 0 {
		return src, nil
	}
	var imports []string
	for _, id := range f.Unresolved {
		if path, ok := snippetImports[id.Name]; ok && !slices.Contains(imports, path) {
			imports = append(imports, path)
		}
	}
	if len(imports) == 0 {
		return src, nil
	}
	sort.Strings(imports)
	return "package snippet\n\nimport (\n\t\"" + strings.Join(imports, "\"\n\t\"") + "\"\n)\n\n" + code, nil
}

// listing turns a listing of package pkg's types into checks that each
// type is pkg's: the names it uses become aliases of pkg's, and each type
// it declares must be assignable to pkg's and back (identical fields, the
// same methods).
func listing(fset *token.FileSet, f *ast.File, src, pkg string) (string, error) {
	path, ok := snippetImports[pkg]
	if !ok {
		return "", fmt.Errorf("listing of package %s, which snippetImports does not name", pkg)
	}
	imports := map[string]bool{path: true}
	names := map[string]bool{}
	var checks strings.Builder
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.TYPE {
			return "", fmt.Errorf("a listing holds type declarations only")
		}
		for _, sp := range g.Specs {
			ts := sp.(*ast.TypeSpec)
			names[ts.Name.Name] = true
			expr := src[fset.Position(ts.Type.Pos()).Offset:fset.Position(ts.Type.End()).Offset]
			fmt.Fprintf(&checks, "var _ = func(x %s) %s.%s { return x }\n", expr, pkg, ts.Name.Name)
			fmt.Fprintf(&checks, "var _ = func(x %s.%s) %s { return x }\n", pkg, ts.Name.Name, expr)
		}
	}
	for _, id := range f.Unresolved {
		switch p, isPkg := snippetImports[id.Name]; {
		case isPkg:
			imports[p] = true
		case types.Universe.Lookup(id.Name) == nil:
			names[id.Name] = true
		}
	}
	var b strings.Builder
	b.WriteString("package snippet\n\nimport (\n")
	for _, p := range slices.Sorted(maps.Keys(imports)) {
		fmt.Fprintf(&b, "\t%q\n", p)
	}
	b.WriteString(")\n\n")
	for _, n := range slices.Sorted(maps.Keys(names)) {
		fmt.Fprintf(&b, "type %s = %s.%s\n", n, pkg, n)
	}
	b.WriteString("\n" + checks.String())
	return b.String(), nil
}

// markdownSnippets returns the ```go blocks of a Markdown file.
func markdownSnippets(t *testing.T, path string) []snippet {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []snippet
	var cur *snippet
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		fence := strings.HasPrefix(strings.TrimSpace(line), "```")
		switch {
		case cur == nil && fence:
			cur = &snippet{} // another language, or none: skipped
			if f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "```")); len(f) > 0 && f[0] == "go" {
				cur.where = fmt.Sprintf("%s:%d", filepath.Base(path), n+1)
			}
		case cur != nil && fence:
			if cur.where != "" {
				out = append(out, *cur)
			}
			cur = nil
		case cur != nil:
			cur.code += line + "\n"
		}
	}
	if cur != nil {
		t.Fatalf("%s: a code block is not closed", path)
	}
	return out
}

// docCommentSnippets returns the code blocks of the package comment of a
// Go file, except those docNotGo lists.
func docCommentSnippets(t *testing.T, path string) []snippet {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := parser.ParseFile(token.NewFileSet(), path, src, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil || f.Doc == nil {
		t.Fatalf("%s: no package comment (%v)", path, err)
	}
	var p comment.Parser
	var out []snippet
	for _, block := range p.Parse(f.Doc.Text()).Content {
		code, ok := block.(*comment.Code)
		if !ok {
			continue
		}
		first, _, _ := strings.Cut(code.Text, "\n")
		if slices.ContainsFunc(docNotGo, func(p string) bool { return strings.HasPrefix(first, p) }) {
			continue
		}
		line := 1 + bytes.Count(src[:max(bytes.Index(src, []byte("//\t"+first)), 0)], []byte("\n"))
		out = append(out, snippet{where: fmt.Sprintf("%s:%d", filepath.Base(path), line), code: code.Text})
	}
	return out
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func numbered(src string) string {
	var b strings.Builder
	for i, l := range strings.Split(strings.TrimRight(src, "\n"), "\n") {
		fmt.Fprintf(&b, "%4d  %s\n", i+1, l)
	}
	return b.String()
}
