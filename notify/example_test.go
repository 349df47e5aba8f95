package notify_test

import (
	"context"
	"fmt"

	"github.com/distcron/distcron/logsink"
	"github.com/distcron/distcron/notify"
)

func ExampleWhen() {
	printer := notify.Func(func(ctx context.Context, rec logsink.Record) error {
		fmt.Printf("%s %s\n", rec.Job, rec.Status)
		return nil
	})
	// Notify on failure; use notify.Any(notify.Failed, notify.Succeeded)
	// to hear about successes too.
	n := notify.When(notify.Failed, printer)
	for _, s := range []logsink.Status{logsink.StatusSucceeded, logsink.StatusTimeout, logsink.StatusSkipped, logsink.StatusLost} {
		_ = n.Notify(context.Background(), logsink.Record{Job: "backup", Status: s})
	}
	// Output:
	// backup timeout
	// backup lost
}

func ExampleNewMail() {
	mail, err := notify.NewMail(notify.MailConfig{
		Addr:     "smtp.example.com:587", // STARTTLS is used when offered
		From:     "Cron <cron@example.com>",
		To:       []string{"ops@example.com"},
		Username: "cron",
		Password: "secret",
	})
	if err != nil {
		panic(err)
	}
	_ = notify.When(notify.Failed, mail) // hand this to the scheduler
	fmt.Println("ok")
	// Output: ok
}
