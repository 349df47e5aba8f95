package main

import (
	"strings"
	"testing"
)

// Every command answers --help with exit status 0, its usage, flags and at
// least one example of itself; the global usage lists every command.
func TestHelp(t *testing.T) {
	if len(commands) < 10 {
		t.Fatalf("only %d commands registered", len(commands))
	}
	code, out, errOut := cli(t, nil, "--help")
	if code != 0 || errOut != "" || !strings.Contains(out, "Examples:\n  distcron ") {
		t.Fatalf("distcron --help: exit %d, stderr %q\n%s", code, errOut, out)
	}
	for _, c := range commands {
		if !regexpMatch(`(?m)^  `+c.name+`\s+.*`+regexpQuote(c.help)+`$`, out) {
			t.Errorf("distcron --help does not list %s:\n%s", c.name, out)
		}
		t.Run(c.name, func(t *testing.T) {
			for _, args := range [][]string{{c.name, "--help"}, {c.name, "-h"}, {"help", c.name}} {
				code, out, errOut := cli(t, nil, args...)
				if code != 0 || errOut != "" {
					t.Fatalf("distcron %s: exit %d, stderr %q", strings.Join(args, " "), code, errOut)
				}
				_, examples, ok := strings.Cut(out, "\nExamples:\n")
				examples, _, _ = strings.Cut(examples, "\nFlags:\n")
				if !ok || !regexpMatch(`(?m)^  distcron (\S+ )*`+c.name+`( |$)`, examples) {
					t.Errorf("distcron %s: no example of %s:\n%s", strings.Join(args, " "), c.name, out)
				}
				for _, want := range []string{"Usage:\n  distcron " + c.name + " [flags]", "\nFlags:\n", "\n  -o string\n"} {
					if !strings.Contains(out, want) {
						t.Errorf("distcron %s: no %q in\n%s", strings.Join(args, " "), want, out)
					}
				}
			}
		})
	}
	// Bad command lines: usage on stderr, exit 2.
	for _, args := range [][]string{{}, {"nosuchcommand"}, {"--nosuchflag"}, {"jobs", "--nosuchflag"}, {"help", "a", "b"}} {
		if code, out, errOut := cli(t, nil, args...); code != 2 || out != "" || errOut == "" {
			t.Errorf("distcron %q: exit %d, stdout %q, stderr %q; want 2 and a message on stderr", args, code, out, errOut)
		}
	}
}

func regexpQuote(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`\.+*?()|[]{}^$`, r) {
			b.WriteRune('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
