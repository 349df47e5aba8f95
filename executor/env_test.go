//go:build unix

package executor

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
)

// A command with MinimalEnv does not see the secrets in the environment of
// the process that runs it: only PATH, HOME, LANG and TZ, the names passed
// through, and its own entries, which win.
func TestMinimalEnvHidesHostEnvironment(t *testing.T) {
	// Not parallel: t.Setenv.
	t.Setenv("SECRET_DB_PASSWORD", "hunter2")
	t.Setenv("DISTCRON_TEST_PASSTHROUGH", "passed")
	t.Setenv("HOME", "/home/distcron-test")
	t.Setenv("LANG", "C.UTF-8")
	t.Setenv("TZ", "UTC")
	os.Unsetenv("DISTCRON_TEST_UNSET") // passed through, but not set: left out
	env, err := MinimalEnv([]string{"DISTCRON_TEST_PASSTHROUGH", "DISTCRON_TEST_UNSET"},
		"JOB_VAR=a=b", "TZ=Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	c := &Command{Path: "/usr/bin/env", Env: env}
	res := c.Execute(context.Background())
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	got := strings.Split(strings.TrimSuffix(string(res.Output), "\n"), "\n")
	slices.Sort(got)
	want := []string{
		"DISTCRON_TEST_PASSTHROUGH=passed",
		"HOME=/home/distcron-test",
		"JOB_VAR=a=b",
		"LANG=C.UTF-8",
		"PATH=" + os.Getenv("PATH"),
		"TZ=Europe/Paris",
	}
	if !slices.Equal(got, want) {
		t.Errorf("the command's environment is\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}

	// A Command without Env still inherits everything, as code-registered
	// jobs expect.
	res = (&Command{Path: "/usr/bin/env"}).Execute(context.Background())
	if res.Err != nil || !strings.Contains(string(res.Output), "SECRET_DB_PASSWORD=hunter2\n") {
		t.Errorf("with a nil Env: Err %v; the inherited environment lacks SECRET_DB_PASSWORD", res.Err)
	}
}

func TestMinimalEnvErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		passthrough []string
		env         []string
		msg         string
	}{
		{passthrough: []string{""}, msg: `passthrough name ""`},
		{passthrough: []string{"A=B"}, msg: `passthrough name "A=B"`},
		{passthrough: []string{"A\x00"}, msg: `passthrough name "A\x00"`},
		{env: []string{"NOVALUE"}, msg: `env entry "NOVALUE" is not KEY=value`},
		{env: []string{"=x"}, msg: `env entry "=x" is not KEY=value`},
		{env: []string{"A=\x00"}, msg: `env entry "A=\x00" holds a NUL byte`},
	}
	for _, tt := range tests {
		_, err := MinimalEnv(tt.passthrough, tt.env...)
		if err == nil || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("MinimalEnv(%q, %q) = %v, want an error containing %q", tt.passthrough, tt.env, err, tt.msg)
		}
	}
	if env, err := MinimalEnv(nil); err != nil || env == nil {
		t.Errorf("MinimalEnv(nil) = %q, %v; want a non-nil environment (nil would inherit)", env, err)
	}
}
