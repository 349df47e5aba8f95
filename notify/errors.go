package notify

import "errors"

var (
	// ErrInvalidConfig is matched by every error of [NewWebhook] and
	// [NewMail]: a configuration that can never deliver.
	ErrInvalidConfig = errors.New("distcron: invalid notifier configuration")

	// ErrWebhookStatus is wrapped by the error of [Webhook.Notify] when the
	// webhook answered with a status other than 2xx; the error message
	// holds the status and the start of the response body.
	ErrWebhookStatus = errors.New("distcron: webhook returned an error status")
)
