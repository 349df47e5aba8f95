package notify

import (
	"testing"
	"time"

	"github.com/distcron/distcron/logsink"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var testTick = time.Date(2026, 3, 29, 2, 30, 0, 0, time.UTC)

// failedRecord is the record of a failed shell run.
func failedRecord() logsink.Record {
	started := testTick.Add(150 * time.Millisecond)
	return logsink.Record{
		Job:      "nightly-backup",
		Tick:     testTick,
		Instance: "node-2",
		Trigger:  logsink.TriggerSchedule,
		Attempt:  2,
		Token:    4711,
		Started:  started,
		Finished: started.Add(1500 * time.Millisecond),
		Duration: 1500 * time.Millisecond,
		Status:   logsink.StatusFailed,
		Error:    "distcron: command failed: exit status 3",
		ExitCode: 3,
		Output:   "starting\ndumping db\n.\nerror: disk full\n",
	}
}
