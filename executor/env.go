package executor

import (
	"fmt"
	"os"
	"strings"

	"github.com/distcron/distcron/internal/errtext"
)

// minimalEnvNames are the variables [MinimalEnv] always takes from the
// current process.
var minimalEnvNames = []string{"PATH", "HOME", "LANG", "TZ"}

// MinimalEnv returns an environment for a [Command] that must not see the
// environment of the current process, such as a shell job whose
// definition came over the network: a command inheriting it would see
// every secret the instance was given.
//
// The result holds PATH, HOME, LANG and TZ with their values in the
// current process, then each variable named in passthrough, then the
// "KEY=value" entries of env. Names that are not set in the current
// process are left out. When a name occurs twice, the later value wins,
// so env can override PATH or a passed-through variable. The result is
// never nil (a nil Command.Env inherits everything), and it is computed
// when MinimalEnv is called: set it as Command.Env.
//
// MinimalEnv fails, with an error naming the culprit, when a passthrough
// name is empty or holds '=' or a NUL byte, or when an entry of env is not
// KEY=value with a non-empty KEY or holds a NUL byte.
func MinimalEnv(passthrough []string, env ...string) ([]string, error) {
	for _, name := range passthrough {
		if name == "" || strings.ContainsAny(name, "=\x00") {
			return nil, fmt.Errorf("distcron: passthrough name %s is not a variable name", errtext.Name(name))
		}
	}
	for _, kv := range env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return nil, fmt.Errorf("distcron: env entry %s is not KEY=value", errtext.Name(kv))
		}
		if strings.IndexByte(kv, 0) >= 0 {
			return nil, fmt.Errorf("distcron: env entry %s holds a NUL byte", errtext.Name(kv))
		}
	}
	out := make([]string, 0, len(minimalEnvNames)+len(passthrough)+len(env))
	at := make(map[string]int) // name -> index in out
	add := func(name, kv string) {
		if i, ok := at[name]; ok {
			out[i] = kv
			return
		}
		at[name] = len(out)
		out = append(out, kv)
	}
	for _, names := range [][]string{minimalEnvNames, passthrough} {
		for _, name := range names {
			if v, ok := os.LookupEnv(name); ok {
				add(name, name+"="+v)
			}
		}
	}
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		add(k, kv)
	}
	return out, nil
}
