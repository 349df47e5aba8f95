// Command distcron operates a distcron cluster from the shell: it lists
// instances and jobs, triggers, pauses, resumes and kills jobs, keeps the
// job definitions in etcd in line with a file (apply), previews schedules
// (next), and reads the run history a SQL or MongoDB sink wrote (runs).
// It talks to etcd and to the history database directly. The manual is
// docs/CLI.md; every command has --help with examples.
//
//	distcron [global flags] COMMAND [flags] [args]
//
//	distcron next "0 2 * * *" --tz Europe/Berlin -n 5
//	distcron instances
//	distcron jobs --next 3
//	distcron get backup -o yaml
//	distcron trigger backup
//	distcron apply -f jobs.yaml --dry-run
//	distcron apply -f jobs.yaml --prune
//	distcron runs --job backup --status failed --since 24h --history postgres://ops@db/ops
//	distcron runs backup/2026-12-07T02:00:00Z/0/1/node-a --history /var/lib/app/runs.db
//
// Global flags: --endpoints (default $DISTCRON_ETCD, else 127.0.0.1:2379),
// --namespace (default "/distcron/default/"), --timeout (default 10s),
// before or after the command. The history database of runs is --history
// (default $DISTCRON_HISTORY).
// Exit status: 0 on success, 1 when the command failed, 2 on bad usage.
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
