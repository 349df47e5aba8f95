//go:build !(linux && (amd64 || arm64))

package executor

import (
	"os"
	"os/exec"
	"time"
)

// supervision is not available here: commands run as direct children and
// only their process group is stopped.
type supervision struct{}

func superviseCmd(*exec.Cmd, time.Duration) *supervision { return nil }

func (*supervision) started()                                    {}
func (*supervision) close()                                      {}
func (*supervision) stop(*os.Process)                            {}
func (*supervision) slack() time.Duration                        { return 0 }
func (*supervision) report(string) (startErr error, killed bool) { return nil, false }
