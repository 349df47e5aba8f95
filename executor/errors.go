package executor

import (
	"errors"
	"fmt"
)

var (
	// ErrPanic is matched (errors.Is) by every [*PanicError].
	ErrPanic = errors.New("distcron: panic")

	// ErrTimeout is matched by the Result.Err of a run stopped by
	// [Timeout]; such an error also matches context.DeadlineExceeded.
	ErrTimeout = errors.New("distcron: run timed out")

	// ErrStart is wrapped by Result.Err when a command could not be
	// started: an empty Path, a program that is not found or not
	// executable, a working directory that does not exist, or a context
	// that was already done. The underlying error is wrapped too, e.g.
	// exec.ErrNotFound, fs.ErrNotExist or context.Canceled.
	ErrStart = errors.New("distcron: command did not start")

	// ErrCommandFailed is wrapped by Result.Err when a command exited with
	// a non-zero status or was killed by a signal it did not get from the
	// executor. The *exec.ExitError is wrapped too; Result.ExitCode holds
	// the status.
	ErrCommandFailed = errors.New("distcron: command failed")

	// ErrInvalid is matched by every error of [HTTP.Validate] and
	// [NewPipeline]: a definition that can never run.
	ErrInvalid = errors.New("distcron: invalid executor")

	// ErrHostNotAllowed is matched when the host of an [HTTP] executor's
	// URL, or of a redirect it was sent, is not in its AllowedHosts or its
	// Allow list, and by every [ErrAddressNotAllowed] error. Such an error
	// from Validate also matches [ErrInvalid]; one from a redirect or a
	// connection does not.
	ErrHostNotAllowed = errors.New("distcron: host not allowed")

	// ErrAddressNotAllowed is matched when an [HTTP] executor with an
	// [AllowList] was refused an address: an IP address in its URL or in a
	// redirect, or the address a host name resolved to, that is not public
	// (loopback, link-local, private, ...) and that the list does not name
	// by address or CIDR. Such an error also matches [ErrHostNotAllowed];
	// from Validate, [ErrInvalid] too.
	ErrAddressNotAllowed = errors.New("distcron: address not allowed")

	// ErrHTTPStatus is wrapped by Result.Err when an [HTTP] executor got a
	// response whose status it did not expect; Result.ExitCode holds it.
	ErrHTTPStatus = errors.New("distcron: unexpected HTTP status")
)

// PanicError is the Result.Err of a run whose Go code panicked. It matches
// [ErrPanic] with errors.Is. Its message holds the panic value and the stack
// of the panicking goroutine.
type PanicError struct {
	// Value is the value passed to panic.
	Value any
	// Stack is the stack of the panicking goroutine, as runtime/debug.Stack
	// formats it.
	Stack []byte
}

// Error returns "distcron: panic: <value>" followed by the stack.
func (e *PanicError) Error() string {
	return fmt.Sprintf("%v: %v\n\n%s", ErrPanic, e.Value, e.Stack)
}

// Unwrap returns [ErrPanic].
func (e *PanicError) Unwrap() error { return ErrPanic }
