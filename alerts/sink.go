package alerts

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// Sink delivers alert messages to one outside system. The delivery worker
// calls Send once per message and attempt, from one goroutine per sink,
// in outbox order; Alertmanager's resend loop may call Send concurrently
// with it, so implementations must be safe for concurrent use.
type Sink interface {
	// Name is the sink's name in routes, the outbox and metrics.
	Name() string

	// Send delivers m. A nil error means the receiver has it; any other
	// error leads to a retry later, unless it wraps ErrPermanent, which
	// marks the message dead at once because sending it again cannot
	// succeed. Send returns when ctx ends. It must not keep m.
	Send(ctx context.Context, m *Message) error

	// Close releases the sink's connections. Send must not be called
	// afterwards.
	Close() error
}

// ErrPermanent is wrapped by a Sink's error when the receiver refused the
// message for good (a 4xx answer other than 408 or 429, say), so that the
// message goes dead instead of being retried.
var ErrPermanent = errors.New("alerts: permanent delivery failure")

// Sink names, as routes and the outbox spell them.
const (
	SinkAlertmanager = "alertmanager"
	SinkWebhook      = "webhook"
	SinkKafka        = "kafka"
	SinkLog          = "log"
)

// checkStatus turns an HTTP answer into a delivery result: 2xx is success,
// 408, 429 and 5xx are worth a retry, any other status is permanent.
func checkStatus(resp *http.Response, target string) error {
	code := resp.StatusCode
	switch {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusRequestTimeout, code == http.StatusTooManyRequests, code >= 500:
		return fmt.Errorf("alerts: %s answered %s", target, resp.Status)
	}
	return fmt.Errorf("%w: %s answered %s", ErrPermanent, target, resp.Status)
}
