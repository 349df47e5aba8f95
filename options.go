package distcron

import (
	"fmt"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/distcron/distcron/executor"
	"github.com/distcron/distcron/internal/errtext"
	"github.com/distcron/distcron/internal/stderrlog"
	"github.com/distcron/distcron/logsink"
)

// Option configures a Scheduler. Options are applied by New, which
// validates the result once and returns ErrInvalidOption on a bad value.
type Option func(*config)

type config struct {
	namespace      string
	instanceID     string
	tags           []string
	logger         *zap.Logger
	sinks          []logsink.Sink
	deliveryOpts   []logsink.DeliveryOption
	sessionTTL     time.Duration
	maxConcurrent  int
	location       *time.Location
	claimRetention time.Duration
	claimLead      time.Duration
	skewWarning    time.Duration
	noCorrection   bool // WithClockCorrection(false)
	misfireGrace   time.Duration
	clock          Clock
	stopGrace      time.Duration
	notifiers      []notifierEntry
	remoteShell    bool
	remoteHTTP     bool
	httpHosts      []string
	httpAllow      *executor.AllowList // parsed httpHosts
	shellEnv       []string
	remoteFloor    time.Duration
	startTimeout   time.Duration
}

func defaultConfig() config {
	return config{
		namespace:      "/distcron/default/",
		logger:         stderrlog.New(),
		sessionTTL:     10 * time.Second,
		skewWarning:    defaultSkewWarning,
		location:       time.UTC,
		claimRetention: time.Minute,
		claimLead:      20 * time.Millisecond,
		misfireGrace:   5 * time.Second,
		clock:          SystemClock(),
		stopGrace:      2 * time.Second,
		remoteFloor:    time.Second,
		maxConcurrent:  DefaultMaxConcurrentRuns,
		startTimeout:   DefaultStartTimeout,
	}
}

// DefaultStartTimeout bounds Start when WithStartTimeout is not given.
const DefaultStartTimeout = 15 * time.Second

// WithStartTimeout bounds Start: it fails with ErrUnreachable, naming the
// endpoints and what they did, when etcd has not answered within d (or
// before Start's ctx ends, if that comes first). Default
// DefaultStartTimeout (15s); d must be positive.
func WithStartTimeout(d time.Duration) Option { return func(c *config) { c.startTimeout = d } }

// WithNamespace sets the etcd key prefix all keys live under. Instances
// that share a namespace form one cluster. Default "/distcron/default/".
func WithNamespace(prefix string) Option { return func(c *config) { c.namespace = prefix } }

// WithInstanceID sets this instance's id, unique in the cluster.
// Default "<hostname>-<pid>-<random>".
func WithInstanceID(id string) Option { return func(c *config) { c.instanceID = id } }

// WithTags sets this instance's tags. Jobs registered with RequireTags only
// run on instances that carry all of the required tags. Default none.
func WithTags(tags ...string) Option {
	return func(c *config) { c.tags = append([]string(nil), tags...) }
}

// WithLogger sets the logger for operational messages (named "distcron"),
// which the sinks' deliveries share. Run records go to sinks, not to this
// logger. The default prints warnings and errors (an unreachable etcd, a
// failing sink, dropped records) to standard error, so failures are never
// silent; zap.NewNop() quiets it.
func WithLogger(l *zap.Logger) Option { return func(c *config) { c.logger = l } }

// WithSinks adds sinks that receive a run record for every run attempt.
// Each sink gets its own asynchronous logsink.Delivery, so one slow or
// failing sink neither blocks jobs nor delays the others. Default none.
func WithSinks(sinks ...logsink.Sink) Option {
	return func(c *config) { c.sinks = append(c.sinks, sinks...) }
}

// WithDeliveryOptions tunes the delivery in front of every sink (batch
// size, flush interval, buffer bound, backoff). Default: logsink defaults.
func WithDeliveryOptions(opts ...logsink.DeliveryOption) Option {
	return func(c *config) { c.deliveryOpts = append(c.deliveryOpts, opts...) }
}

// WithSessionTTL sets the TTL of this instance's etcd lease, rounded up to
// whole seconds. When the instance stops answering for this long, its
// registration, leadership and running keys vanish. Default 10s; minimum 1s.
func WithSessionTTL(d time.Duration) Option { return func(c *config) { c.sessionTTL = d } }

// DefaultMaxConcurrentRuns is the default of WithMaxConcurrentRuns.
const DefaultMaxConcurrentRuns = 1024

// WithMaxConcurrentRuns caps the runs this instance executes at once. An
// instance at its cap does not claim ticks, so idle peers take them; a tick
// no instance with a free slot took is claimed by an instance at its cap
// once its peers' backups had their chance, and recorded skipped with the
// reason, so it never vanishes unrecorded. The cap counts claims sent ahead
// of their tick as well as runs in progress, so an instance firing
// thousands of ticks per second should raise it (or pass 0: no cap).
// Default 1024: far above what an ordinary app runs at once (hundreds of
// jobs due at one instant included), and a bound on the goroutines, file
// descriptors and memory a job every 10ms against a slow endpoint can tie
// up.
func WithMaxConcurrentRuns(n int) Option { return func(c *config) { c.maxConcurrent = n } }

// WithLocation sets the default time zone for cron fields of jobs that set
// no zone of their own. Default UTC.
func WithLocation(loc *time.Location) Option { return func(c *config) { c.location = loc } }

// WithClaimRetention sets how long the claim of a tick is kept before the
// leader deletes it. A late claim of the same tick must always find it, so
// the retention must exceed the session TTL plus the misfire grace plus the
// largest clock skew between instances (New requires TTL + grace + 1s +
// 10s of skew at least). Longer retention costs etcd one small key per
// claimed tick for that long. Default 1m.
func WithClaimRetention(d time.Duration) Option { return func(c *config) { c.claimRetention = d } }

// WithClockSkewWarning sets how far this instance's clock may be from the
// cluster's median clock, as the instances estimate it through etcd,
// before it logs a warning (and an Info line when it is back). Default
// 500ms. The instance schedules on the median clock, warned or not, once
// its offset is larger than the claim lead plus twice the estimate's
// error.
func WithClockSkewWarning(d time.Duration) Option { return func(c *config) { c.skewWarning = d } }

// WithClockCorrection turns the skew correction on (the default) or off.
// On, an instance whose clock is off the cluster's median clock by more
// than the claim lead plus twice the estimate's error schedules on the
// median clock. Off, it schedules on its own clock, and only estimates,
// reports and warns. Exactly-once never depends on it either way.
func WithClockCorrection(on bool) Option { return func(c *config) { c.noCorrection = !on } }

// WithClaimLead sets the least time before a tick at which the instance
// sends its claim; the winner then starts the job at the tick itself, so
// the etcd round trip does not delay the fire. The effective lead grows by
// itself to twice the slowest recent claim round trip (at most 1s and half
// the misfire grace) when etcd answers slowly. A claimed tick whose
// instance dies within the lead is not run by another instance. Jobs with
// OverlapForbid are claimed at the tick. Default 20ms; 0 claims at the tick
// unless etcd is slow.
func WithClaimLead(d time.Duration) Option { return func(c *config) { c.claimLead = d } }

// WithMisfireGrace sets how late (by this instance's clock) a tick may still
// be claimed, for example after etcd was briefly unreachable. Older ticks
// are skipped: a backlog is never replayed. Default 5s.
func WithMisfireGrace(d time.Duration) Option { return func(c *config) { c.misfireGrace = d } }

// WithClock replaces the clock, for tests and skew drills (package
// distcrontest has a clock the test steps and a skewed one). Default
// SystemClock().
func WithClock(clk Clock) Option { return func(c *config) { c.clock = clk } }

// WithRemoteShell lets this instance run shell jobs defined remotely (in
// etcd, through Define or the admin API). A shell job from the network is
// remote code execution: enable it only where that is intended. Default
// off: such jobs are reported as refused here and run elsewhere if enabled.
func WithRemoteShell(enabled bool) Option { return func(c *config) { c.remoteShell = enabled } }

// WithRemoteHTTP lets this instance run HTTP jobs defined remotely, to
// the listed hosts only: names ("example.com", "*.example.com",
// optionally with a port), "*" for any host name, and addresses or CIDRs
// ("10.0.0.7", "10.0.0.0/8"). The address a name resolves to is checked
// when the connection is made: loopback, link-local (cloud metadata
// included), private and other non-public addresses are refused unless
// listed by address or CIDR. At least one entry is required. Default off.
func WithRemoteHTTP(hosts ...string) Option {
	return func(c *config) { c.remoteHTTP, c.httpHosts = true, append([]string(nil), hosts...) }
}

// WithRemoteScheduleFloor sets the shortest interval between two fires
// that a schedule arriving over the network (a definition, or an override
// of a code job's schedule) may have; a faster one is refused as invalid,
// and the job keeps its previous schedule. Jobs registered in code are not
// limited. Default 1s.
func WithRemoteScheduleFloor(d time.Duration) Option { return func(c *config) { c.remoteFloor = d } }

// WithRemoteShellEnv names host environment variables that shell jobs
// defined remotely receive. Such jobs run with a minimal environment:
// PATH, HOME, LANG and TZ from the host, these names, then the job's own
// env entries; never the instance's whole environment. Default none.
func WithRemoteShellEnv(names ...string) Option {
	return func(c *config) { c.shellEnv = append([]string(nil), names...) }
}

// WithStopGrace bounds how long Stop waits for cancelled runs to return
// after its context ends, so a job that ignores cancellation cannot hang
// shutdown; Stop then takes at most 2s more to leave etcd and flush the
// sinks. Default 2s.
func WithStopGrace(d time.Duration) Option { return func(c *config) { c.stopGrace = d } }

func (c *config) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidOption}, args...)...)
	}
	if c.namespace == "" || !strings.HasPrefix(c.namespace, "/") {
		return bad("namespace %s must start with /", errtext.Name(c.namespace))
	}
	if !strings.HasSuffix(c.namespace, "/") {
		c.namespace += "/"
	}
	if c.instanceID == "" {
		c.instanceID = defaultInstanceID()
	}
	if !validName(c.instanceID) {
		return bad("instance id %s: %s", errtext.Name(c.instanceID), nameRule)
	}
	for _, t := range c.tags {
		if t == "" || strings.ContainsAny(t, " \t\n") {
			return bad("tag %s must be non-empty without spaces", errtext.Name(t))
		}
	}
	if c.logger == nil {
		return bad("nil logger")
	}
	for i, s := range c.sinks {
		if s == nil {
			return bad("sink %d is nil", i)
		}
	}
	if c.sessionTTL < time.Second {
		return bad("session TTL %v is below 1s", c.sessionTTL)
	}
	if c.maxConcurrent < 0 {
		return bad("max concurrent runs %d is negative", c.maxConcurrent)
	}
	if c.location == nil {
		return bad("nil location")
	}
	if floor := c.sessionTTL + c.misfireGrace + maxAdaptiveLead + 10*time.Second; c.claimRetention < floor {
		return bad("claim retention %v is below session TTL + misfire grace + 1s + 10s of clock skew = %v", c.claimRetention, floor)
	}
	if c.skewWarning <= 0 {
		return bad("clock skew warning threshold %v is not positive", c.skewWarning)
	}
	if c.claimLead < 0 || c.claimLead > time.Second {
		return bad("claim lead %v must be within [0, 1s]", c.claimLead)
	}
	if c.startTimeout <= 0 {
		return bad("start timeout %v must be positive", c.startTimeout)
	}
	if c.misfireGrace <= 0 {
		return bad("misfire grace %v must be positive", c.misfireGrace)
	}
	if c.clock == nil {
		return bad("nil clock")
	}
	if c.remoteHTTP {
		if len(c.httpHosts) == 0 {
			return bad(`WithRemoteHTTP needs at least one host ("*" for any public host)`)
		}
		allow, err := executor.ParseAllowList(c.httpHosts...)
		if err != nil {
			return bad("WithRemoteHTTP: %v", err)
		}
		c.httpAllow = allow
	}
	if _, err := executor.MinimalEnv(c.shellEnv); err != nil {
		return bad("WithRemoteShellEnv: %v", err)
	}
	if c.remoteFloor < 0 {
		return bad("remote schedule floor %v is negative", c.remoteFloor)
	}
	if c.stopGrace < 0 {
		return bad("stop grace %v is negative", c.stopGrace)
	}
	return nil
}

func defaultInstanceID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "host"
	}
	host = strings.Map(func(r rune) rune {
		if nameRune(r) {
			return r
		}
		return '-'
	}, host)
	if len(host) > 64 {
		host = host[:64]
	}
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), randomSuffix())
}
