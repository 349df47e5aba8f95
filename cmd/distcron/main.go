// Command distcron operates a distcron cluster from the shell: it lists
// instances and jobs, triggers, pauses, resumes and kills jobs, keeps the
// job definitions in etcd in line with a file (apply), and previews
// schedules (next). It talks to etcd directly.
//
//	distcron [global flags] COMMAND [flags] [args]
//
//	distcron next "0 2 * * *" --tz Europe/Berlin -n 5
//	distcron instances
//	distcron jobs -o json
//	distcron get backup -o yaml
//	distcron trigger backup
//	distcron apply -f jobs.yaml --dry-run
//	distcron apply -f jobs.yaml --prune
//
// Global flags: --endpoints (default $DISTCRON_ETCD, else 127.0.0.1:2379),
// --namespace (default "/distcron/default/"), --timeout (default 10s).
// Exit status: 0 on success, 1 when the command failed, 2 on bad usage.
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
