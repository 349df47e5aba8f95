package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/distcron/distcron"
	"github.com/distcron/distcron/logsink"
)

// DefaultMaxBodyBytes is the request body limit unless WithMaxBodyBytes
// says otherwise.
const DefaultMaxBodyBytes = 1 << 20

// requestTimeout bounds the etcd and history calls of one request.
const requestTimeout = 10 * time.Second

// Option configures the handler made by NewHandler.
type Option func(*config)

type config struct {
	authorize func(*http.Request) error
	history   logsink.Querier
	maxBody   int64
	log       *zap.Logger
}

// WithAuthorizer enables the mutating routes (define, update, delete,
// trigger, kill, pause, resume) for requests that authorize accepts (it
// returns nil). Without it the handler is read-only: every mutating
// request gets 403. authorize is called on the request goroutine, before
// the body is read; its error text is sent to the client in the 403
// response, so keep secrets out of it. It must be safe for concurrent use.
// The host usually has its own authentication (a session, basic auth, a
// proxy header) and checks it here; see examples/admin for a token check.
func WithAuthorizer(authorize func(*http.Request) error) Option {
	return func(c *config) { c.authorize = authorize }
}

// WithHistory sets where the run history comes from: usually the SQL or
// MongoDB sink also passed to distcron.WithSinks. Without it, the history
// routes (GET /api/runs, /api/runs/{id}, /api/summary) answer 501 with an
// error saying that no queryable sink is configured, and the console says
// so. If q also implements logsink.Summarizer the dashboard counts are
// computed by the store; otherwise the handler reads at most 20,000
// records per summary and marks the summary partial beyond that.
func WithHistory(q logsink.Querier) Option { return func(c *config) { c.history = q } }

// WithMaxBodyBytes limits request bodies; larger bodies get 413. Default
// DefaultMaxBodyBytes (1 MiB); n <= 0 means the default.
func WithMaxBodyBytes(n int64) Option { return func(c *config) { c.maxBody = n } }

// WithLogger sets the logger for the changes made through the handler
// (Info: action, job, remote address) and for server-side failures (etcd
// or the history store failing a request: Warn). Default zap.NewNop(); the
// handler logs under the name "admin".
func WithLogger(l *zap.Logger) Option { return func(c *config) { c.log = l } }

// handler serves the API and the console.
type handler struct {
	s      *distcron.Scheduler
	cfg    config
	mux    *http.ServeMux
	csrf   *http.CrossOriginProtection
	static map[string]staticFile
}

// NewHandler returns the admin http.Handler for s: a JSON API under api/
// and the web console at its root (see the package documentation for the
// routes). It starts no goroutine, opens no listener and keeps no global
// state; it is safe for concurrent use. Mount it under any prefix with
// http.StripPrefix. It is read-only unless WithAuthorizer is given.
func NewHandler(s *distcron.Scheduler, opts ...Option) http.Handler {
	if s == nil {
		panic("admin: NewHandler: nil *distcron.Scheduler")
	}
	cfg := config{maxBody: DefaultMaxBodyBytes, log: zap.NewNop()}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.maxBody <= 0 {
		cfg.maxBody = DefaultMaxBodyBytes
	}
	if cfg.log == nil {
		cfg.log = zap.NewNop()
	}
	cfg.log = cfg.log.Named("admin")
	h := &handler{s: s, cfg: cfg, mux: http.NewServeMux(), csrf: http.NewCrossOriginProtection(), static: loadStatic()}
	h.routes()
	return h
}

// route is one path with a handler per method.
type route map[string]http.HandlerFunc

func (h *handler) routes() {
	h.handle("/{$}", route{"GET": h.serveIndex})
	h.handle("/static/{file}", route{"GET": h.serveStatic})
	h.handle("/api/info", route{"GET": h.getInfo})
	h.handle("/api/jobs", route{"GET": h.listJobs, "POST": h.mutating(h.createJob)})
	h.handle("/api/jobs/{name}", route{"GET": h.getJob, "PUT": h.mutating(h.putJob), "DELETE": h.mutating(h.deleteJob)})
	h.handle("/api/jobs/{name}/trigger", route{"POST": h.mutating(h.control("trigger"))})
	h.handle("/api/jobs/{name}/kill", route{"POST": h.mutating(h.control("kill"))})
	h.handle("/api/jobs/{name}/pause", route{"POST": h.mutating(h.control("pause"))})
	h.handle("/api/jobs/{name}/resume", route{"POST": h.mutating(h.control("resume"))})
	h.handle("/api/instances", route{"GET": h.listInstances})
	h.handle("/api/running", route{"GET": h.listRunning})
	h.handle("/api/definitions", route{"GET": h.listDefinitions})
	h.handle("/api/runs", route{"GET": h.listRuns})
	h.handle("/api/runs/{id}", route{"GET": h.getRun})
	h.handle("/api/summary", route{"GET": h.getSummary})
	h.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such API route: %s %s", r.Method, r.URL.Path)
	})
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
}

// handle registers a path for all methods, answering 405 (with Allow)
// for the methods the route does not have; HEAD is served as GET.
func (h *handler) handle(pattern string, rt route) {
	var allowed []string
	for _, m := range []string{"GET", "HEAD", "POST", "PUT", "DELETE"} {
		if rt[m] != nil || m == "HEAD" && rt["GET"] != nil {
			allowed = append(allowed, m)
		}
	}
	allow := strings.Join(allowed, ", ")
	h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		m := r.Method
		if m == "HEAD" {
			m = "GET"
		}
		f := rt[m]
		if f == nil {
			w.Header().Set("Allow", allow)
			writeError(w, http.StatusMethodNotAllowed, "method %s not allowed on %s (allowed: %s)", r.Method, r.URL.Path, allow)
			return
		}
		f(w, r)
	})
}

// ServeHTTP serves the console and the API. Paths are taken relative to
// the mount point with or without their leading slash, so both
// http.StripPrefix("/cron", h) and http.StripPrefix("/cron/", h) work.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, "/") {
		// Mounted with the prefix's slash stripped too: the root is "".
		r2 := *r
		u := *r.URL
		u.Path, u.RawPath = "/"+u.Path, ""
		if r.URL.RawPath != "" {
			u.RawPath = "/" + r.URL.RawPath
		}
		r2.URL = &u
		r = &r2
	}
	hdr := w.Header()
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "same-origin")
	if strings.HasPrefix(r.URL.Path, "/api/") {
		hdr.Set("Cache-Control", "no-store")
	}
	h.mux.ServeHTTP(w, r)
}

// mutating guards a route that changes the cluster: it needs the
// authorizer's approval and a same-origin (or non-browser) request.
func (h *handler) mutating(f http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h.authorized(r); err != nil {
			writeError(w, http.StatusForbidden, "%v", err)
			return
		}
		if err := h.csrf.Check(r); err != nil {
			writeError(w, http.StatusForbidden, "cross-origin request refused: %v", err)
			return
		}
		f(w, r)
	}
}

// errReadOnly is the 403 reason when no authorizer is configured.
var errReadOnly = errors.New("read-only: this console does not allow changes (the host app passes no admin.WithAuthorizer)")

func (h *handler) authorized(r *http.Request) error {
	if h.cfg.authorize == nil {
		return errReadOnly
	}
	if err := h.cfg.authorize(r); err != nil {
		return fmt.Errorf("forbidden: %w", err)
	}
	return nil
}

// errorBody is the JSON of every error answer.
type errorBody struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(errorBody{Error: "encode response: " + err.Error()})
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, errorBody{Error: fmt.Sprintf(format, args...)})
}

// fail answers err with the status its kind calls for, logging failures
// of the server side.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := statusOf(err)
	if status >= 500 {
		h.cfg.log.Warn("admin request failed", zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Error(err))
	}
	writeError(w, status, "%v", err)
}

// statusOf maps the errors of distcron and logsink to HTTP statuses.
func statusOf(err error) int {
	switch {
	case errors.Is(err, distcron.ErrUnknownJob), errors.Is(err, distcron.ErrInvalidName), errors.Is(err, logsink.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, distcron.ErrInvalidDefinition), errors.Is(err, distcron.ErrInvalidSpec),
		errors.Is(err, logsink.ErrBadCursor):
		return http.StatusBadRequest
	case errors.Is(err, distcron.ErrUnreachable), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable
	case errors.Is(err, context.Canceled):
		return 499 // the client went away; nobody reads this
	}
	return http.StatusInternalServerError
}

// infoBody is GET /api/info.
type infoBody struct {
	Instance  string    `json:"instance"`
	Version   string    `json:"version"`
	Leader    bool      `json:"leader"`
	ReadOnly  bool      `json:"read_only"`
	CanMutate bool      `json:"can_mutate"`
	Denied    string    `json:"denied,omitempty"`
	History   bool      `json:"history"`
	Time      time.Time `json:"time"`
}

func (h *handler) getInfo(w http.ResponseWriter, r *http.Request) {
	info := infoBody{
		Instance: h.s.InstanceID(), Version: distcron.Version, Leader: h.s.IsLeader(),
		ReadOnly: h.cfg.authorize == nil, History: h.cfg.history != nil, Time: time.Now().UTC(),
	}
	if err := h.authorized(r); err != nil {
		info.Denied = err.Error()
	} else {
		info.CanMutate = true
	}
	writeJSON(w, http.StatusOK, info)
}
