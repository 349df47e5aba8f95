//go:build unix

package executor_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/distcron/distcron/executor"
)

func ExampleShell() {
	e := executor.Chain(executor.Shell("echo hello; exit 3"),
		executor.Timeout(time.Minute))
	res := e.Execute(context.Background())
	fmt.Printf("exit %d, output %q\n", res.ExitCode, res.Output)
	fmt.Println(res.Err)
	// Output:
	// exit 3, output "hello\n"
	// distcron: command failed: exit status 3
}

func ExampleFunc() {
	e := executor.Func(func(ctx context.Context) error {
		panic("unexpected")
	})
	res := e.Execute(context.Background())
	fmt.Println(errors.Is(res.Err, executor.ErrPanic))
	// Output:
	// true
}

func ExampleTimeout() {
	e := executor.Timeout(10 * time.Millisecond)(executor.Shell("sleep 10"))
	res := e.Execute(context.Background())
	fmt.Println(errors.Is(res.Err, context.DeadlineExceeded), errors.Is(res.Err, executor.ErrTimeout))
	// Output:
	// true true
}
