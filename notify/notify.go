// Package notify tells people and systems about finished runs: an HTTP
// webhook ([NewWebhook]) and e-mail through SMTP ([NewMail]), both behind the
// one-method [Notifier] interface, so a host app can plug in its own (chat,
// paging, ...).
//
// # Choosing records
//
// A [Notifier] is called with the run record of an attempt that has
// ended. Which records deserve a notification is the caller's choice: a
// [Filter] such as [Failed] decides, and [When] attaches one to a
// Notifier, so "notify on failure, and optionally on success" is
//
//	n := notify.When(notify.Failed, mail)                        // failures only
//	n := notify.When(notify.Any(notify.Failed, notify.Succeeded), mail) // both
//
// [Multi] sends to several notifiers.
//
// # Blocking and errors
//
// Notify blocks until the notification was handed over (the webhook
// answered with a 2xx status, the SMTP server accepted the message) or
// failed, and returns early with an error wrapping ctx.Err() once ctx is
// done. Each notifier also bounds a call with its own timeout. Notifiers do
// not retry; a failed notification is the caller's to log. Everything in
// the package is safe for concurrent use.
package notify

import (
	"context"
	"errors"

	"github.com/distcron/distcron/logsink"
)

// Notifier sends a notification about one run. Notify is called after the
// run has ended, with its final record. It blocks until the notification
// was delivered or failed, must return promptly once ctx is done, and must
// be safe for concurrent use: runs of different jobs end at the same time.
type Notifier interface {
	Notify(ctx context.Context, rec logsink.Record) error
}

// Func adapts a function to the [Notifier] interface.
type Func func(ctx context.Context, rec logsink.Record) error

// Notify calls f(ctx, rec).
func (f Func) Notify(ctx context.Context, rec logsink.Record) error { return f(ctx, rec) }

var _ Notifier = Func(nil)

// Filter decides whether a record deserves a notification. It must not
// block and must be safe for concurrent use.
type Filter func(rec logsink.Record) bool

// Failed reports whether rec is a run that did not succeed: status failed,
// timeout, killed or lost. Skipped and succeeded runs are not failures.
func Failed(rec logsink.Record) bool {
	switch rec.Status {
	case logsink.StatusFailed, logsink.StatusTimeout, logsink.StatusKilled, logsink.StatusLost:
		return true
	}
	return false
}

// Succeeded reports whether rec is a run with status succeeded.
func Succeeded(rec logsink.Record) bool { return rec.Status == logsink.StatusSucceeded }

// Any returns a Filter that accepts a record when one of fs does. With no
// filters it accepts nothing.
func Any(fs ...Filter) Filter {
	return func(rec logsink.Record) bool {
		for _, f := range fs {
			if f(rec) {
				return true
			}
		}
		return false
	}
}

// When returns a Notifier that passes a record on to n only when f accepts
// it, and otherwise returns nil at once. A nil f accepts every record.
func When(f Filter, n Notifier) Notifier {
	return Func(func(ctx context.Context, rec logsink.Record) error {
		if f != nil && !f(rec) {
			return nil
		}
		return n.Notify(ctx, rec)
	})
}

// Multi returns a Notifier that calls each of ns in turn, in order, even
// when one fails, and returns their errors joined (errors.Join). Nil
// entries are skipped.
func Multi(ns ...Notifier) Notifier {
	ns = append([]Notifier(nil), ns...)
	return Func(func(ctx context.Context, rec logsink.Record) error {
		var errs []error
		for _, n := range ns {
			if n == nil {
				continue
			}
			if err := n.Notify(ctx, rec); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	})
}
