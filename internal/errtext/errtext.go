// Package errtext builds distcron's error messages so that each reads
// once: the "distcron: " prefix only at the start, a wrapped sentinel's
// text only where it is wrapped, and identifiers from outside (job names,
// instance ids, step names, request parameters) quoted and cut short.
// The errors keep their chains: errors.Is and errors.As see every error
// they were built from.
package errtext

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Prefix starts the message of every error of distcron.
const Prefix = "distcron: "

// MaxName is the most bytes of an identifier that [Name] quotes.
const MaxName = 64

// Name quotes s for an error message: whole when it is at most MaxName
// bytes long, else its first MaxName bytes (never splitting a UTF-8
// character), an ellipsis and the length, as in `"abc"… (300 bytes)`. A
// name that failed validation may be anything, and echoing all of it back
// helps no one.
func Name(s string) string {
	if len(s) <= MaxName {
		return strconv.Quote(s)
	}
	i := MaxName
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return fmt.Sprintf("%s… (%d bytes)", strconv.Quote(s[:i]), len(s))
}

// Trim returns err's message without its leading Prefix: Trim of a
// sentinel is the lead that [Strip] takes.
func Trim(err error) string { return strings.TrimPrefix(err.Error(), Prefix) }

// Strip returns err's message without its leading Prefix and without the
// leading parts given (each followed by ": " in the message), in any order:
// the parts a wrapper that says them itself would otherwise repeat.
func Strip(err error, leads ...string) string {
	msg := Trim(err)
	for cut := true; cut; {
		cut = false
		for _, l := range leads {
			if l != "" && strings.HasPrefix(msg, l+": ") {
				msg, cut = msg[len(l)+2:], true
			}
		}
	}
	return msg
}

// Errorf formats like fmt.Errorf and wraps its %w operands the same way,
// but the message of every error operand loses its leading Prefix, except
// an operand that starts the message: so
//
//	Errorf("%w: job %q: %w", ErrInvalidDefinition, "x", ErrCodeJob)
//
// reads "distcron: invalid job definition: job "x": a job registered in
// code has this name", with "distcron: " once.
func Errorf(format string, args ...any) error {
	chain := fmt.Errorf(format, args...)
	lead := strings.HasPrefix(format, "%w") || strings.HasPrefix(format, "%v") || strings.HasPrefix(format, "%s")
	shown := make([]any, len(args))
	for i, a := range args {
		if e, ok := a.(error); ok && e != nil && (i > 0 || !lead) {
			shown[i] = Trim(e)
			continue
		}
		shown[i] = a
	}
	msg := fmt.Sprintf(plainVerbs(format), shown...)
	switch u := chain.(type) {
	case interface{ Unwrap() error }:
		return &one{msg: msg, err: u.Unwrap()}
	case interface{ Unwrap() []error }:
		return &many{msg: msg, errs: u.Unwrap()}
	}
	return errors.New(msg)
}

// plainVerbs turns every %w of format into %v.
func plainVerbs(format string) string {
	if !strings.Contains(format, "%w") {
		return format
	}
	b := []byte(format)
	for i := 0; i < len(b)-1; i++ {
		if b[i] != '%' {
			continue
		}
		if b[i+1] == 'w' {
			b[i+1] = 'v'
		}
		i++ // skip the verb, or the second % of %%
	}
	return string(b)
}

// Wrap returns an error whose message is msg and which wraps errs, for
// errors.Is and errors.As.
func Wrap(msg string, errs ...error) error {
	if len(errs) == 1 {
		return &one{msg: msg, err: errs[0]}
	}
	return &many{msg: msg, errs: errs}
}

// Also returns an error with err's message that wraps err and also, so
// that errors.Is matches what err matches and also: for an error that
// already says all there is to say.
func Also(err error, also ...error) error {
	return &many{msg: err.Error(), errs: append([]error{err}, also...)}
}

// Nested returns err without its leading Prefix, still wrapping err: for
// an error handed to code outside distcron (an http.Client's CheckRedirect,
// a net.Dialer's Control) that puts it inside a message of its own, which
// distcron then wraps again.
func Nested(err error) error { return &one{msg: Trim(err), err: err} }

type one struct {
	msg string
	err error
}

func (e *one) Error() string { return e.msg }
func (e *one) Unwrap() error { return e.err }

type many struct {
	msg  string
	errs []error
}

func (e *many) Error() string   { return e.msg }
func (e *many) Unwrap() []error { return e.errs }
