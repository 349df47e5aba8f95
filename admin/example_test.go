package admin_test

import (
	"crypto/subtle"
	"database/sql"
	"errors"
	"log"
	"net/http"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/distcron/distcron"
	"github.com/distcron/distcron/admin"
	"github.com/distcron/distcron/logsink/sqlsink"
)

// The host app mounts the console on its own server, with the run history
// from the SQL sink the scheduler writes to, and allows changes to
// requests carrying its admin token.
func Example() {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"127.0.0.1:2379"}})
	if err != nil {
		log.Fatal(err)
	}
	defer cli.Close()
	db, err := sql.Open("pgx", "postgres://app@127.0.0.1/app")
	if err != nil {
		log.Fatal(err)
	}
	runs, err := sqlsink.New(db, sqlsink.Postgres)
	if err != nil {
		log.Fatal(err)
	}
	sched, err := distcron.New(cli, distcron.WithNamespace("/distcron/myapp/"), distcron.WithSinks(runs))
	if err != nil {
		log.Fatal(err)
	}
	// ... register jobs, sched.Start(ctx), defer sched.Stop(ctx) ...

	token := []byte("Bearer " + "an-admin-token")
	mux := http.NewServeMux()
	mux.Handle("/cron/", http.StripPrefix("/cron", admin.NewHandler(sched,
		admin.WithHistory(runs),
		admin.WithAuthorizer(func(r *http.Request) error {
			if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), token) != 1 {
				return errors.New("admin token required")
			}
			return nil
		}))))
	log.Fatal(http.ListenAndServe("127.0.0.1:8080", mux))
}

// A host with its own users: viewers may read, admins may change too, and
// the audit log names who changed what. The handler answers to the names
// it is reached by (besides localhost).
func ExampleWithAccessControl() {
	var sched *distcron.Scheduler // from distcron.New, started
	users := map[string]struct {
		name  string
		admin bool
	}{"Bearer viewer-token": {"viewer", false}, "Bearer admin-token": {"alice", true}}
	h := admin.NewHandler(sched,
		admin.WithAccessControl(func(r *http.Request, a admin.Access) (string, error) {
			u, ok := users[r.Header.Get("Authorization")] // a real host checks its sessions here
			switch {
			case !ok:
				return "", errors.New("sign in first")
			case a == admin.Change && !u.admin:
				return u.name, errors.New("only admins change jobs")
			}
			return u.name, nil
		}),
		admin.WithAllowedHosts("cron.example.com"),
		admin.WithLogger(zap.NewExample()), // audit: "admin change" with identity, route, job, kind
	)
	http.Handle("/cron/", http.StripPrefix("/cron", h))
}
