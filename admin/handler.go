package admin

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/distcron/distcron"
	"github.com/distcron/distcron/internal/errtext"
	"github.com/distcron/distcron/logsink"
)

// DefaultMaxBodyBytes is the request body limit unless WithMaxBodyBytes
// says otherwise.
const DefaultMaxBodyBytes = 1 << 20

// DefaultMaxPageBytes bounds the JSON of one page of GET api/runs unless
// WithMaxPageBytes says otherwise.
const DefaultMaxPageBytes = 4 << 20

// Redacted stands for a secret value in every answer: the value of an HTTP
// job's header and of a shell job's environment entry (KEY=<redacted>),
// in pipeline steps too. Sent back in a PUT, it keeps the stored value.
const Redacted = "<redacted>"

// defaultRequestTimeout bounds the etcd and history calls of one request.
const defaultRequestTimeout = 10 * time.Second

// Access is what a request asks to do: read the cluster's state or change it.
type Access int

// Kinds of access.
const (
	// Read is every GET and HEAD of api/ but api/info: jobs, definitions,
	// runs and their output, instances, runs in progress, the summary.
	Read Access = iota + 1
	// Change is every route that changes the cluster: define, update,
	// delete, trigger, kill, pause, resume.
	Change
)

// String returns "read" or "change".
func (a Access) String() string {
	switch a {
	case Read:
		return "read"
	case Change:
		return "change"
	}
	return fmt.Sprintf("Access(%d)", int(a))
}

// AccessControl decides whether r may have access a. It returns the
// identity of the requester (a user name, a token's label: whatever the
// host's authentication knows; "" when unknown), written to the audit log
// of changes, and a non-nil error to refuse the request with 403 (the
// identity is logged then too). The error text is sent to the client, so
// keep secrets out of it. It is called on the request
// goroutine, before the body is read, and must be safe for concurrent use.
type AccessControl func(r *http.Request, a Access) (identity string, err error)

// Option configures the handler made by NewHandler.
type Option func(*config)

// authFunc is one access decision: the identity or a refusal.
type authFunc func(*http.Request) (string, error)

type config struct {
	change  authFunc // nil: read-only
	read    authFunc // nil: change's, else LoopbackOnly
	hosts   []string
	history logsink.Querier
	maxBody int64
	maxPage int
	log     *zap.Logger
	timeout time.Duration
}

// WithAuthorizer enables the mutating routes (define, update, delete,
// trigger, kill, pause, resume) for requests that authorize accepts (it
// returns nil). Without it the handler is read-only: every mutating
// request gets 403. Unless WithReadAuthorizer or WithAccessControl says
// otherwise, reads (Read) need the same authorizer: a host that guards
// changes with a token guards the definitions, the run output and the
// instances with it too. authorize is called on the request goroutine,
// before the body is read; its error text is sent to the client in the
// 403 response, so keep secrets out of it. It must be safe for concurrent
// use. The host usually has its own authentication (a session, basic
// auth, a proxy header) and checks it here; see examples/admin for a
// token check. Changes allowed this way are audited without an identity
// (use WithAccessControl to name who made them).
func WithAuthorizer(authorize func(*http.Request) error) Option {
	return func(c *config) { c.change = adapt(authorize) }
}

// WithReadAuthorizer decides who may read (see Read): requests that
// authorize accepts (it returns nil). Without it, reads need the
// WithAuthorizer authorizer when there is one, and otherwise come from
// loopback clients only (LoopbackOnly). Pass AllowAll to let anyone who
// can reach the handler read (secret values stay redacted; run output and
// instance details do not). The console page and its static files, and
// api/info, need no authorization.
func WithReadAuthorizer(authorize func(*http.Request) error) Option {
	return func(c *config) { c.read = adapt(authorize) }
}

// WithAccessControl sets one decision for reads and changes, told which
// one the request asks for, and returning the identity the audit log
// records. It replaces WithAuthorizer and WithReadAuthorizer given before
// it (options apply in order). A nil ac makes the handler read-only, with
// the default reads.
func WithAccessControl(ac AccessControl) Option {
	return func(c *config) {
		if ac == nil {
			c.change, c.read = nil, nil
			return
		}
		c.change = func(r *http.Request) (string, error) { return ac(r, Change) }
		c.read = func(r *http.Request) (string, error) { return ac(r, Read) }
	}
}

func adapt(authorize func(*http.Request) error) authFunc {
	if authorize == nil {
		return nil
	}
	return func(r *http.Request) (string, error) { return "", authorize(r) }
}

// AllowAll accepts every request: WithReadAuthorizer(AllowAll) opens reads
// to anyone who can reach the handler.
func AllowAll(*http.Request) error { return nil }

// LoopbackOnly accepts requests from loopback clients: those whose
// RemoteAddr is in 127.0.0.0/8 or ::1. It is the read authorizer of a
// handler with no authorizer at all. Behind a reverse proxy on the same
// machine every request comes from loopback: authorize by other means
// there.
func LoopbackOnly(r *http.Request) error {
	if !isLoopbackAddr(r.RemoteAddr) {
		return errors.New("reads are allowed from this machine only (the host app passes no admin.WithReadAuthorizer or admin.WithAuthorizer)")
	}
	return nil
}

// WithAllowedHosts lists the host names (and addresses) the handler
// answers to, as clients send them in the Host header, besides the
// loopback ones (localhost and *.localhost, 127.0.0.0/8, [::1]), which are
// always allowed. A request for any other host gets 421: a page of another
// site whose name was rebound to this server's address (DNS rebinding)
// sends its own name, and is refused before anything else. Each entry is a
// name ("cron.example.com": any port), a name with a port
// ("cron.example.com:8443", "10.0.0.5:8080", "[fd00::5]:8080": that port),
// "*.example.com" (any subdomain of example.com, any port), or "*" (any
// host: for hosts whose own front end already checks Host). Names are
// compared without case and without a trailing dot. Without this option
// only the loopback names and addresses are allowed.
func WithAllowedHosts(hosts ...string) Option {
	return func(c *config) { c.hosts = append(c.hosts, hosts...) }
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

// WithMaxPageBytes bounds the JSON of one page of GET api/runs: a page
// ends before the record that would take it past n bytes, with "next" to
// continue from there, so output=true with a large limit cannot build a
// huge answer. A record that alone exceeds n is listed without its
// outputs (marked "output_omitted"; api/runs/{id} has them). Default
// DefaultMaxPageBytes (4 MiB); n <= 0 means the default.
func WithMaxPageBytes(n int) Option { return func(c *config) { c.maxPage = n } }

// WithLogger sets the logger of the audit log and of server-side
// failures. Every request to a mutating route logs one Info line "admin
// change" with the identity the authorizer returned, the route, the job
// and its kind, the status and the remote address (never a secret
// value); etcd or the history store failing a request logs a Warn line
// with the error and the request id the client got. Default zap.NewNop();
// the handler logs under the name "admin".
func WithLogger(l *zap.Logger) Option { return func(c *config) { c.log = l } }

// handler serves the API and the console.
type handler struct {
	s      *distcron.Scheduler
	cfg    config
	hosts  hostSet
	mux    *http.ServeMux
	csrf   *http.CrossOriginProtection
	static map[string]staticFile
}

// NewHandler returns the admin http.Handler for s: a JSON API under api/
// and the web console at its root (see the package documentation for the
// routes and for the defaults of access). It starts no goroutine, opens
// no listener and keeps no global state; it is safe for concurrent use.
// Mount it under any prefix with http.StripPrefix. It is read-only unless
// WithAuthorizer or WithAccessControl is given. It panics on an entry of
// WithAllowedHosts that is not a host name or address.
func NewHandler(s *distcron.Scheduler, opts ...Option) http.Handler {
	if s == nil {
		panic("admin: NewHandler: nil *distcron.Scheduler")
	}
	cfg := config{maxBody: DefaultMaxBodyBytes, maxPage: DefaultMaxPageBytes, log: zap.NewNop(), timeout: defaultRequestTimeout}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.maxBody <= 0 {
		cfg.maxBody = DefaultMaxBodyBytes
	}
	if cfg.maxPage <= 0 {
		cfg.maxPage = DefaultMaxPageBytes
	}
	if cfg.log == nil {
		cfg.log = zap.NewNop()
	}
	cfg.log = cfg.log.Named("admin")
	hosts, err := parseHosts(cfg.hosts)
	if err != nil {
		panic("admin: NewHandler: WithAllowedHosts: " + err.Error())
	}
	h := &handler{s: s, cfg: cfg, hosts: hosts, mux: http.NewServeMux(), csrf: http.NewCrossOriginProtection(), static: loadStatic()}
	h.routes()
	return h
}

// route is one path with a handler per method.
type route map[string]http.HandlerFunc

func (h *handler) routes() {
	h.handle("/{$}", route{"GET": h.serveIndex})
	h.handle("/static/{file}", route{"GET": h.serveStatic})
	h.handle("/api/info", route{"GET": h.getInfo})
	h.handle("/api/jobs", route{"GET": h.reading(h.listJobs), "POST": h.mutating("POST api/jobs", h.createJob)})
	h.handle("/api/jobs/{name}", route{"GET": h.reading(h.getJob),
		"PUT": h.mutating("PUT api/jobs/{name}", h.putJob), "DELETE": h.mutating("DELETE api/jobs/{name}", h.deleteJob)})
	for _, action := range []string{"trigger", "kill", "pause", "resume"} {
		h.handle("/api/jobs/{name}/"+action, route{"POST": h.mutating("POST api/jobs/{name}/"+action, h.control(action))})
	}
	h.handle("/api/instances", route{"GET": h.reading(h.listInstances)})
	h.handle("/api/running", route{"GET": h.reading(h.listRunning)})
	h.handle("/api/running/{id}/kill", route{"POST": h.mutating("POST api/running/{id}/kill", h.killRun)})
	h.handle("/api/schedule/preview", route{"GET": h.reading(h.previewSchedule)})
	h.handle("/api/definitions", route{"GET": h.reading(h.listDefinitions)})
	h.handle("/api/runs", route{"GET": h.reading(h.listRuns)})
	h.handle("/api/runs/{id}", route{"GET": h.reading(h.getRun)})
	h.handle("/api/summary", route{"GET": h.reading(h.getSummary)})
	h.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such API route: %s %s", r.Method, errtext.Name(r.URL.Path))
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
			writeError(w, http.StatusMethodNotAllowed, "method %s not allowed on %s (allowed: %s)", r.Method, errtext.Name(r.URL.Path), allow)
			return
		}
		f(w, r)
	})
}

// ServeHTTP serves the console and the API. Paths are taken relative to
// the mount point with or without their leading slash, so both
// http.StripPrefix("/cron", h) and http.StripPrefix("/cron/", h) work.
// Requests for a host that is not allowed (see WithAllowedHosts) get 421.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "same-origin")
	if !h.hosts.allowed(r.Host) {
		hdr.Set("Cache-Control", "no-store")
		writeError(w, http.StatusMisdirectedRequest, "host %s is not served here: the host app lists the names it answers to with admin.WithAllowedHosts (default: localhost and loopback addresses only)", errtext.Name(r.Host))
		return
	}
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
	if strings.HasPrefix(r.URL.Path, "/api/") {
		hdr.Set("Cache-Control", "no-store")
	}
	h.mux.ServeHTTP(w, r)
}

// reading guards a route that reads the cluster: it needs read access.
func (h *handler) reading(f http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, err := h.authorize(r, Read); err != nil {
			writeError(w, http.StatusForbidden, "%v", err)
			return
		}
		f(w, r)
	}
}

// mutating guards a route that changes the cluster: it needs the
// authorizer's approval and a same-origin (or non-browser) request. It
// writes one audit line per request, whatever the outcome.
func (h *handler) mutating(route string, f http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a := &auditEntry{route: route, job: r.PathValue("name")}
		sw := &statusWriter{ResponseWriter: w}
		defer func() { h.audit(r, a, sw.status) }()
		id, err := h.authorize(r, Change)
		a.identity = id
		if err != nil {
			writeError(sw, http.StatusForbidden, "%v", err)
			return
		}
		if err := h.csrf.Check(r); err != nil {
			writeError(sw, http.StatusForbidden, "cross-origin request refused: %v", err)
			return
		}
		f(sw, r.WithContext(context.WithValue(r.Context(), auditKey{}, a)))
	}
}

// errReadOnly is the 403 reason when no authorizer is configured.
var errReadOnly = errors.New("read-only: this console does not allow changes (the host app passes no admin.WithAuthorizer)")

// authorize decides access for r: the requester's identity (as far as
// known), and why not.
func (h *handler) authorize(r *http.Request, a Access) (string, error) {
	var f authFunc
	switch a {
	case Change:
		if h.cfg.change == nil {
			return "", errReadOnly
		}
		f = h.cfg.change
	default:
		f = h.cfg.read
		if f == nil {
			f = h.cfg.change
		}
		if f == nil {
			f = adapt(LoopbackOnly)
		}
	}
	id, err := f(r)
	if err != nil {
		return id, fmt.Errorf("forbidden: %w", err)
	}
	return id, nil
}

// auditEntry is what the audit line of one mutating request says; the
// route's handler fills in the job and its kind.
type auditEntry struct {
	route, identity, job, kind string
	requestID                  string
}

type auditKey struct{}

// auditOf returns the audit entry of a mutating request (a throwaway one
// elsewhere).
func auditOf(r *http.Request) *auditEntry {
	if a, ok := r.Context().Value(auditKey{}).(*auditEntry); ok {
		return a
	}
	return &auditEntry{}
}

// audit logs one mutating request: who, which route, which job, the
// outcome. Never a definition's contents.
func (h *handler) audit(r *http.Request, a *auditEntry, status int) {
	if status == 0 {
		status = http.StatusOK
	}
	fields := []zap.Field{
		zap.String("identity", a.identity), zap.String("route", a.route), zap.String("job", a.job),
		zap.String("kind", a.kind), zap.Int("status", status), zap.String("remote", r.RemoteAddr),
	}
	if a.requestID != "" {
		fields = append(fields, zap.String("request_id", a.requestID))
	}
	h.cfg.log.Info("admin change", fields...)
}

// statusWriter remembers the status of an answer.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// errorBody is the JSON of every error answer; RequestID is set on
// server-side failures (5xx), whose details go to the log only.
type errorBody struct {
	Error     string `json:"error"`
	RequestID string `json:"request_id,omitempty"`
}

// encodeJSON encodes v without HTML escaping (answers are JSON, served as
// such with nosniff: escaping <, > and & only makes them larger).
func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := encodeJSON(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = encodeJSON(errorBody{Error: "internal error: the answer could not be encoded"})
	}
	writeRaw(w, status, b)
}

// writeRaw sends b, JSON ending in a newline.
func writeRaw(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, errorBody{Error: fmt.Sprintf(format, args...)})
}

// fail answers err with the status its kind calls for. Failures of the
// server side (etcd) are logged with their detail and answered with a
// generic message and a request id: etcd and gRPC errors name addresses,
// sizes and internals that are none of the client's business.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := statusOf(err)
	if status < 500 {
		writeError(w, status, "%v", err)
		return
	}
	msg := "the cluster's store (etcd) failed this request"
	if status == http.StatusServiceUnavailable {
		msg = "the cluster's store (etcd) did not answer in time; try again"
	}
	h.serverError(w, r, status, msg, err)
}

// serverError logs err with a request id and answers status with msg and
// the id, never err's text.
func (h *handler) serverError(w http.ResponseWriter, r *http.Request, status int, msg string, err error) {
	id := requestID(r)
	auditOf(r).requestID = id
	h.cfg.log.Warn("admin request failed", zap.String("request_id", id), zap.String("method", r.Method),
		zap.String("path", r.URL.Path), zap.Int("status", status), zap.Error(err))
	w.Header().Set("X-Request-Id", id)
	writeJSON(w, status, errorBody{Error: msg + " (request id " + id + "; the server log has the details)", RequestID: id})
}

// safeRequestID is what a request id taken from the client may look like.
var safeRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

// requestID returns the request's X-Request-Id (as a proxy sets it) when
// it is plain, else a new random one.
func requestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); safeRequestID.MatchString(id) {
		return id
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// statusOf maps the errors of distcron and logsink to HTTP statuses.
func statusOf(err error) int {
	switch {
	case errors.Is(err, distcron.ErrUnknownJob), errors.Is(err, distcron.ErrInvalidName), errors.Is(err, logsink.ErrNotFound),
		errors.Is(err, distcron.ErrNoSuchRun):
		return http.StatusNotFound
	case errors.Is(err, distcron.ErrPaused):
		return http.StatusConflict
	case errors.Is(err, distcron.ErrCodeJob): // before ErrInvalidDefinition, which it also matches
		return http.StatusConflict
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

// infoBody is GET /api/info. Instance, version and leader are left out
// for requests without read access.
type infoBody struct {
	Instance   string    `json:"instance,omitempty"`
	Version    string    `json:"version,omitempty"`
	Leader     *bool     `json:"leader,omitempty"`
	ReadOnly   bool      `json:"read_only"`
	CanRead    bool      `json:"can_read"`
	ReadDenied string    `json:"read_denied,omitempty"`
	CanMutate  bool      `json:"can_mutate"`
	Denied     string    `json:"denied,omitempty"`
	History    bool      `json:"history"`
	Time       time.Time `json:"time"`
}

func (h *handler) getInfo(w http.ResponseWriter, r *http.Request) {
	info := infoBody{ReadOnly: h.cfg.change == nil, History: h.cfg.history != nil, Time: time.Now().UTC()}
	if _, err := h.authorize(r, Read); err != nil {
		info.ReadDenied = err.Error()
	} else {
		leader := h.s.IsLeader()
		info.CanRead, info.Instance, info.Version, info.Leader = true, h.s.InstanceID(), distcron.Version(), &leader
	}
	if _, err := h.authorize(r, Change); err != nil {
		info.Denied = err.Error()
	} else {
		info.CanMutate = true
	}
	writeJSON(w, http.StatusOK, info)
}
