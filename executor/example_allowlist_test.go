package executor_test

import (
	"errors"
	"fmt"

	"github.com/distcron/distcron/executor"
)

func ExampleAllowList() {
	// Any public host, and the internal network 10.0.0.0/8.
	allow, err := executor.ParseAllowList("*", "10.0.0.0/8")
	if err != nil {
		panic(err)
	}
	for _, url := range []string{
		"https://api.example.com/hook",
		"http://10.1.2.3:8080/reindex",
		"http://169.254.169.254/latest/meta-data/",
	} {
		err := (&executor.HTTP{URL: url, Allow: allow}).Validate()
		fmt.Println(url, errors.Is(err, executor.ErrAddressNotAllowed))
	}
	// Output:
	// https://api.example.com/hook false
	// http://10.1.2.3:8080/reindex false
	// http://169.254.169.254/latest/meta-data/ true
}
