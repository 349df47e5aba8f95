package admin

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/distcron/distcron"
	"github.com/distcron/distcron/internal/errtext"
)

// Secret values are write-only: header values of HTTP jobs and values of
// shell jobs' environment entries, in pipeline steps too, are replaced by
// Redacted in every answer; a PUT that sends Redacted back keeps the value
// stored for that header or variable.

// redact returns a copy of d with its secret values replaced by Redacted
// (empty values stay empty). d is not changed.
func redact(d distcron.Definition) distcron.Definition {
	d.Shell = redactShell(d.Shell)
	d.HTTP = redactHTTP(d.HTTP)
	if d.Steps != nil {
		steps := make([]distcron.StepSpec, len(d.Steps))
		for i, st := range d.Steps {
			st.Shell = redactShell(st.Shell)
			st.HTTP = redactHTTP(st.HTTP)
			steps[i] = st
		}
		d.Steps = steps
	}
	return d
}

func redactShell(s *distcron.ShellSpec) *distcron.ShellSpec {
	if s == nil || len(s.Env) == 0 {
		return s
	}
	c := *s
	c.Env = make([]string, len(s.Env))
	for i, kv := range s.Env {
		switch k, v, ok := strings.Cut(kv, "="); {
		case !ok: // not KEY=VALUE (a stored definition that does not validate): all of it may be the secret
			c.Env[i] = Redacted
		case v == "":
			c.Env[i] = kv
		default:
			c.Env[i] = k + "=" + Redacted
		}
	}
	return &c
}

func redactHTTP(h *distcron.HTTPSpec) *distcron.HTTPSpec {
	if h == nil || len(h.Headers) == 0 {
		return h
	}
	c := *h
	c.Headers = make(map[string]string, len(h.Headers))
	for k, v := range h.Headers {
		if v != "" {
			v = Redacted
		}
		c.Headers[k] = v
	}
	return &c
}

// hasRedacted reports whether d carries Redacted for a secret value.
func hasRedacted(d distcron.Definition) bool {
	check := func(s *distcron.ShellSpec, h *distcron.HTTPSpec) bool {
		if s != nil {
			for _, kv := range s.Env {
				if _, v, _ := strings.Cut(kv, "="); v == Redacted {
					return true
				}
			}
		}
		if h != nil {
			for _, v := range h.Headers {
				if v == Redacted {
					return true
				}
			}
		}
		return false
	}
	if check(d.Shell, d.HTTP) {
		return true
	}
	for _, st := range d.Steps {
		if check(st.Shell, st.HTTP) {
			return true
		}
	}
	return false
}

// keepRedacted replaces each Redacted value of d by the value stored for
// the same header (names compared as HTTP does, without case) or variable
// in cur, the stored definition; pipeline steps are matched by name. A
// Redacted value with nothing stored to keep is an error naming it. d's
// specs are copied before they change.
func keepRedacted(d *distcron.Definition, cur *distcron.Definition) error {
	if !hasRedacted(*d) {
		return nil
	}
	var curShell *distcron.ShellSpec
	var curHTTP *distcron.HTTPSpec
	curSteps := map[string]distcron.StepSpec{}
	if cur != nil {
		curShell, curHTTP = cur.Shell, cur.HTTP
		for _, st := range cur.Steps {
			if _, dup := curSteps[st.Name]; !dup {
				curSteps[st.Name] = st
			}
		}
	}
	var err error
	if d.Shell, err = keepShell(d.Shell, curShell, ""); err != nil {
		return err
	}
	if d.HTTP, err = keepHTTP(d.HTTP, curHTTP, ""); err != nil {
		return err
	}
	if d.Steps != nil {
		steps := make([]distcron.StepSpec, len(d.Steps))
		for i, st := range d.Steps {
			old := curSteps[st.Name]
			where := fmt.Sprintf("step %s: ", errtext.Name(st.Name))
			if st.Shell, err = keepShell(st.Shell, old.Shell, where); err != nil {
				return err
			}
			if st.HTTP, err = keepHTTP(st.HTTP, old.HTTP, where); err != nil {
				return err
			}
			steps[i] = st
		}
		d.Steps = steps
	}
	return nil
}

func keepShell(s, cur *distcron.ShellSpec, where string) (*distcron.ShellSpec, error) {
	if s == nil || len(s.Env) == 0 {
		return s, nil
	}
	stored := map[string]string{}
	if cur != nil {
		for _, kv := range cur.Env {
			if k, v, ok := strings.Cut(kv, "="); ok {
				stored[k] = v // the last one wins, as in the environment
			}
		}
	}
	c := *s
	c.Env = make([]string, len(s.Env))
	for i, kv := range s.Env {
		k, v, _ := strings.Cut(kv, "=")
		if v == Redacted {
			old, ok := stored[k]
			if !ok {
				return nil, fmt.Errorf("%w: %sshell.env %s is %s but no value is stored for it (send the value itself)", distcron.ErrInvalidDefinition, where, errtext.Name(k), Redacted)
			}
			kv = k + "=" + old
		}
		c.Env[i] = kv
	}
	return &c, nil
}

func keepHTTP(h, cur *distcron.HTTPSpec, where string) (*distcron.HTTPSpec, error) {
	if h == nil || len(h.Headers) == 0 {
		return h, nil
	}
	c := *h
	c.Headers = make(map[string]string, len(h.Headers))
	for k, v := range h.Headers {
		if v == Redacted {
			old, ok := storedHeader(cur, k)
			if !ok {
				return nil, fmt.Errorf("%w: %shttp.headers %s is %s but no value is stored for it (send the value itself)", distcron.ErrInvalidDefinition, where, errtext.Name(k), Redacted)
			}
			v = old
		}
		c.Headers[k] = v
	}
	return &c, nil
}

// storedHeader finds header k in cur: by its exact name, else by its
// canonical form.
func storedHeader(cur *distcron.HTTPSpec, k string) (string, bool) {
	if cur == nil {
		return "", false
	}
	if v, ok := cur.Headers[k]; ok {
		return v, true
	}
	ck := http.CanonicalHeaderKey(k)
	for name, v := range cur.Headers {
		if http.CanonicalHeaderKey(name) == ck {
			return v, true
		}
	}
	return "", false
}
