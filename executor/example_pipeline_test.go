package executor_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/distcron/distcron/executor"
)

func ExamplePipeline() {
	step := func(name string, err error) executor.Step {
		return executor.Step{Name: name, Exec: executor.Func(func(context.Context) error { return err })}
	}
	p, err := executor.NewPipeline(
		step("extract", nil),
		step("load", errors.New("table locked")),
		step("report", nil), // never starts
	)
	if err != nil {
		panic(err)
	}
	res := p.Execute(context.Background())
	for _, s := range res.Steps {
		fmt.Printf("%s: %v\n", s.Name, s.Result.Err)
	}
	var se *executor.StepError
	fmt.Println(errors.As(res.Err, &se), se.Step)
	fmt.Println(res.Err)
	// Output:
	// extract: <nil>
	// load: table locked
	// true load
	// distcron: pipeline step "load": table locked
}

func ExampleHTTP_Validate() {
	h := &executor.HTTP{
		Method:       "POST",
		URL:          "https://hooks.example.net/rebuild",
		AllowedHosts: []string{"*.example.com", "ci.internal:8443"},
	}
	err := h.Validate()
	fmt.Println(errors.Is(err, executor.ErrHostNotAllowed), errors.Is(err, executor.ErrInvalid))
	fmt.Println(err)
	// Output:
	// true true
	// distcron: host not allowed: HTTP: hooks.example.net is not in AllowedHosts
}
