//go:build unix && !linux

package executor

import (
	"errors"
	"os"
)

// waitExited is not available: the caller reaps the child instead.
func waitExited(*os.Process) error { return errors.ErrUnsupported }

// groupAlive reports whether the group led by p has a member; zombies count.
func groupAlive(p *os.Process) bool { return groupExists(p) }
