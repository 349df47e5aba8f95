// Package admin is an http.Handler that shows and steers a distcron
// cluster: a JSON API and a web console, served by any instance of the
// cluster on the host app's own HTTP server.
//
// # Mounting
//
//	h := admin.NewHandler(sched,
//		admin.WithHistory(sqlSink),                  // run history (a logsink.Querier)
//		admin.WithAuthorizer(allowAdmins),           // enables changes (and guards reads); default read-only
//		admin.WithAllowedHosts("cron.example.com")) // the names it is reached by; default loopback only
//	mux.Handle("/cron/", http.StripPrefix("/cron", h))
//
// The console is then at /cron/ and the API under /cron/api/. Every link
// and request of the console is relative, so any prefix works (and the
// root: mux.Handle("/", h)). NewHandler starts no goroutine, opens no
// listener and keeps no global state; the handler only answers requests,
// each bounded by 10s of etcd and history reads. Wrap it in the host's own
// middleware for authentication, TLS and rate limits.
//
// # Security
//
// SECURITY.md at the module's root has the threat model; in short:
//
// Host. Every request whose Host header is not one the host app expects
// gets 421 before anything else: by default only localhost, *.localhost
// and loopback addresses (127.0.0.0/8, [::1]), with any port;
// WithAllowedHosts adds the names the handler is reached by. This stops a
// page of another site whose name was rebound to the server's address
// (DNS rebinding) from reading or changing anything through a browser.
//
// Reads. api/ answers (but api/info) need read access: the read
// authorizer (WithReadAuthorizer, or WithAccessControl asked for Read);
// without one, the authorizer of changes (WithAuthorizer) when there is
// one; without any, loopback clients only (LoopbackOnly).
// WithReadAuthorizer(AllowAll) opens reads to anyone who reaches the
// handler. The console page, its static files and api/info are always
// served; api/info then leaves out the instance id, version and leader.
// Refused reads get 403.
//
// Changes. The handler is read-only unless the host passes WithAuthorizer
// (or WithAccessControl): every route that changes the cluster then asks
// it (a nil error allows the request) and answers 403 otherwise. Changes
// from browsers must also be same-origin (http.CrossOriginProtection: the
// Sec-Fetch-Site and Origin headers), so a page on another site cannot use
// a signed-in admin's cookies; clients that are not browsers (curl,
// scripts) send neither header and are not affected. Every request to a
// mutating route writes one audit line (WithLogger, Info "admin change":
// identity, route, job, kind, status, remote address). The handler never
// sends CORS headers. The console is served with a Content-Security-Policy
// that allows its own files only, and it renders every value as text.
//
// Secrets. Header values of HTTP jobs and values of shell jobs'
// environment entries (in pipeline steps too) are write-only: every
// answer shows them as Redacted ("<redacted>"; env entries as
// KEY=<redacted>), names and keys visible. A PUT that sends Redacted back
// for a header or variable keeps the stored value; a new value replaces
// it; leaving the entry out removes it. Commands, arguments, URLs and
// bodies are shown as stored: keep secrets in headers and env. Run output
// is not redacted (a job may print anything): it is what read access
// protects.
//
// Code jobs. A definition with a kind on the name of a job registered in
// code (here or on a live instance) is refused with 409; a definition
// without a kind may override such a job's schedule, zone and pause.
//
// Errors. 5xx answers never carry etcd, gRPC or history-store error text:
// they say which dependency failed and give a request id
// ("request_id", also the X-Request-Id header; a plain X-Request-Id of the
// request is reused); the log line with the detail has the same id.
//
// Defining a shell job through the API stores its definition in etcd; it
// runs only on instances started with distcron.WithRemoteShell(true) (HTTP
// jobs: distcron.WithRemoteHTTP). Other instances list it as refused and
// never run it. The API cannot run anything else.
//
// # The console
//
// The console at the handler's root is plain HTML, CSS and JavaScript
// embedded in the binary: no build step, nothing loaded from elsewhere,
// usable offline. It has a dashboard (the cluster, run counts by status
// and the success rate per job over the last 24 hours, recent problems),
// the jobs with their schedule, next run and state, a page per job with
// its runs in progress, recent runs and their output, the run history with
// filters (job, status, instance, time range), the instances with the
// leader marked, what each is running and whether it runs shell and HTTP
// jobs from definitions, the instances that left in the last hour, and a
// form to define shell, HTTP and pipeline jobs with everything a
// definition holds, or to override the schedule of a job registered in
// code, showing the next fire times as the schedule is typed. Any
// instance's console shows the whole cluster: jobs registered in code on
// other instances are listed with their schedule and where they run, and
// can be steered from it. Buttons run a job now, kill its runs (or one
// run, after a second click), pause, resume and delete it; they are
// disabled, with the reason, when the handler is
// read-only or the authorizer refuses the browser. The console polls the
// API every 2 seconds while it is visible. When the authorizer refuses, the
// console offers to send a token as "Authorization: Bearer <token>" (kept
// in the tab's sessionStorage), for hosts that check such a header; when
// reads are refused it shows nothing but that offer. Secret values show as
// <redacted> in the edit form and are kept when saved so.
//
// # API
//
// Paths are relative to the mount point. Answers are JSON (UTF-8); times
// are RFC 3339 in UTC; durations in records are nanoseconds. Errors are
// {"error": "text"} (plus "request_id" for 5xx) with the status:
//
//	400  bad JSON, unknown fields, a definition that does not validate (the
//	     text names the field: schedule, name, kind, ...), a <redacted>
//	     value with no stored value to keep, bad query parameters or
//	     cursor, a body whose name differs from the path's
//	403  read-only handler, the authorizer (of reads or of changes) said
//	     no, or a cross-origin browser request
//	404  unknown job, run or route; a run to kill that is not in progress
//	405  method not allowed (with an Allow header)
//	409  the job exists (POST), a definition with a kind on a job
//	     registered in code (POST, PUT), a job registered in code (DELETE),
//	     a paused job (trigger)
//	413  body larger than WithMaxBodyBytes (default 1 MiB)
//	415  a body that is not Content-Type application/json
//	421  a Host the handler does not answer to (WithAllowedHosts)
//	500  etcd failed the request (generic text and a request id)
//	501  a history route without WithHistory: no queryable sink configured
//	503  etcd or the history store did not answer or failed (generic text
//	     and a request id)
//
// Reading (GET, also HEAD; need read access, but api/info):
//
//	GET api/info
//	    {"instance", "version", "leader": bool (these three only with read
//	     access), "read_only": bool, "can_read": bool, "read_denied": the
//	     read authorizer's refusal, "can_mutate": bool (this request would
//	     be authorized to change), "denied": the authorizer's refusal,
//	     "history": bool, "time"}. Always allowed.
//
//	GET api/jobs
//	    {"jobs": [Job...], "invalid": [{"name", "error"}...], "time"}
//	    Every job the serving instance knows (registered here in code, or
//	    defined in etcd) and every job another live instance registers,
//	    sorted by name. Job is
//	    {"name", "local": bool, "schedule", "location", "kind" (func, shell,
//	     executor, http, pipeline), "source" (code, definition, override),
//	     "paused", "eligible" (may run here), "refused" (why not here),
//	     "overlap", "shards", "broadcast", "tags",
//	     "next_runs": [the next 5 fire times, from Scheduler.NextRuns],
//	     "last" (the newest run the serving instance recorded itself, see
//	      distcron.JobInfo.Last: tick, status, instance, trigger, attempt,
//	      finished; absent when none),
//	     "running": [Run...] (in progress anywhere),
//	     "instances": [ids of live instances registering it]}
//	    A job with "local": false is registered in code on other instances
//	    only: its schedule, location, kind and tags are those their
//	    registrations describe (distcron.Instance.Code), next_runs are
//	    computed from them, "source" is "code" and "paused" the cluster's
//	    pause flag; the actions (trigger, kill, pause, resume) work on it
//	    as on any job. "invalid" lists definitions in etcd that the serving
//	    instance skipped.
//
//	GET api/jobs/{name}
//	    Job, plus "definition" (the distcron.Definition in etcd, if any,
//	    secret values redacted; read from its one key). 404 unknown job.
//
//	GET api/instances
//	    {"instances": [Instance...], "leader": id, "departed": [Departure...]}
//	    Instance is distcron.Instance (id, host, pid, version, tags,
//	    started, jobs, job_count, code_jobs, code, remote_shell,
//	    remote_http, leader) plus "running": its runs in progress.
//	    Departure is distcron.Departure: {"instance", "gone", "reason"
//	    (stopped, expired, gone)}, the instances that left within the last
//	    hour as the serving instance saw them, newest first.
//
//	GET api/running
//	    {"running": [Run...]}: runs in progress in the cluster, oldest tick
//	    first. Run is distcron.Run: id (for api/running/{id}/kill), job,
//	    tick, shard, attempt, trigger, instance, claimed, token.
//
//	GET api/schedule/preview?spec=&tz=&n=
//	    {"spec", "location", "next": [times in location]}: the next n
//	    (default 5, at most 100) fire times of spec in the IANA zone tz
//	    (default: the serving instance's zone; a CRON_TZ= prefix wins),
//	    checked as a definition's schedule is (the zone, the schedule
//	    floor). Nothing is stored. 400 with the reason for a spec that
//	    does not parse, an unknown zone, a schedule below the floor, or a
//	    bad n.
//
//	GET api/definitions
//	    {"definitions": [distcron.Definition...], "invalid": [{"name",
//	    "error"}...]}: everything under defs/ in etcd, secret values
//	    redacted.
//
//	GET api/runs?job=&status=&instance=&since=&until=&limit=&cursor=&output=
//	    {"runs": [Record...], "next": cursor}: run history, newest first,
//	    with the semantics of logsink.Query. status is a status or a
//	    comma-separated list (succeeded, failed, timeout, killed, skipped,
//	    lost), and may repeat; since and until bound the tick (since <=
//	    tick < until), as RFC 3339 times or as durations before now
//	    ("24h"); limit defaults to 50 and is capped at 1000; cursor is the
//	    previous page's "next", with the same filters. Output is left out
//	    unless output=true. A page also ends before the record that would
//	    take its JSON past WithMaxPageBytes (default 4 MiB), with "next" to
//	    go on; a record too large alone comes without its outputs and with
//	    "output_omitted": true. Record is logsink.Record plus "id", the
//	    run's identity for api/runs/{id}. 400 unknown parameter, status or
//	    bad time, limit or cursor; 501 without WithHistory.
//
//	GET api/runs/{id}
//	    Record with its output (and its steps' outputs). 400 malformed id;
//	    404 no such record; 501 without WithHistory.
//
//	GET api/summary?since=&until=&job=
//	    {"since", "until", "jobs": [{"job", "counts": {status: n},
//	     "total", "success_rate", "last"}], "totals": {status: n},
//	     "total", "success_rate", "partial": bool}
//	    Run counts by job and status between since (default 24h ago) and
//	    until (default now), at most 366 days apart. success_rate is
//	    succeeded / (total - skipped), null when that is 0; last is the
//	    newest tick. The store counts when it is a logsink.Summarizer;
//	    otherwise the handler reads at most 20,000 records and sets
//	    "partial" when there were more. 501 without WithHistory.
//
// Changing (needs WithAuthorizer or WithAccessControl; body: a
// distcron.Definition as JSON, decoded strictly, unknown fields rejected;
// each request writes one audit line):
//
//	POST api/jobs
//	    Defines a new job. 201 {"job", "created": true, "definition"
//	    (secret values redacted)}. 409 when a job of that name is defined
//	    (use PUT) or registered in code (pick another name).
//
//	PUT api/jobs/{name}
//	    Creates or replaces the job's definition; the body's name may be
//	    left out, else it must match. A definition without a kind overrides
//	    the schedule, zone or pause state of a job registered in code; one
//	    with a kind on such a job's name gets 409. Secret values sent as
//	    "<redacted>" keep the stored ones (400 when none is stored). 201
//	    when created, 200 when replaced, with the definition as POST.
//
//	DELETE api/jobs/{name}
//	    Deletes the job's definition: every instance drops the job, or
//	    restores the code job it overrode. 200 {"job", "action", "done"}.
//	    404 no definition; 409 a job registered in code.
//
//	POST api/jobs/{name}/trigger   run it now, once, on one eligible instance (202)
//	POST api/jobs/{name}/kill      cancel its runs in progress anywhere (202)
//	POST api/jobs/{name}/pause     pause its scheduled ticks everywhere (200)
//	POST api/jobs/{name}/resume    resume them (200)
//	    No body. {"job", "action", "done"}. 404 unknown job; 409 trigger of
//	    a paused job (resume it first). Trigger and kill answer once the
//	    request is stored; the run or the kill happens within moments (see
//	    distcron.Scheduler.Trigger and Kill).
//
//	POST api/running/{id}/kill
//	    Cancels one run in progress (id: its Run id from api/running or a
//	    job's "running", URL-escaped), wherever it runs; the job's other
//	    runs go on (distcron.Scheduler.KillRun). No body. 202 {"job",
//	    "run", "action", "done"}. 404 no such run in progress.
//
// For example:
//
//	curl -s -H "Authorization: Bearer $TOKEN" localhost:8080/cron/api/jobs/report
//	curl -s -X POST -H "Authorization: Bearer $TOKEN" localhost:8080/cron/api/jobs/report/trigger
//	curl -s -X PUT -H 'Content-Type: application/json' -H "Authorization: Bearer $TOKEN" \
//		-d '{"kind":"shell","schedule":"*/5 * * * *","shell":{"command":"echo hi"}}' \
//		localhost:8080/cron/api/jobs/hello
package admin
