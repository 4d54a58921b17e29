package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/flowguard/flowguard/store"
)

// deliverLoop sends the due outbox messages of sink until ctx ends. While
// the sink fails, the loop probes it with one message at a time, waiting
// the backoff of its consecutive failures in between and ignoring news of
// queued messages: a sink that is down costs one claim per wait, however
// many messages pile up.
func (s *Service) deliverLoop(ctx context.Context, sink Sink) {
	log := s.log.With("sink", sink.Name())
	failing := 0 // consecutive failed attempts
	for {
		limit := s.cfg.Batch
		if failing > 0 {
			limit = 1
		}
		n, failed, err := s.deliverOnce(ctx, sink, log, limit)
		if err != nil && ctx.Err() == nil {
			log.Warn("deliver alerts", "err", err)
		}
		switch {
		case failed:
			failing++
			if !sleep(ctx, s.backoff(failing), nil) {
				return
			}
			continue
		case n > 0:
			failing = 0
		}
		if n > 0 && err == nil && ctx.Err() == nil {
			continue // the next messages may be due already
		}
		if !sleep(ctx, s.cfg.Poll, s.wake[sink.Name()]) {
			return
		}
	}
}

// lease is how long a claimed message stays hidden from other workers; it
// outlasts any send, whose time the sinks bound.
func (s *Service) lease() time.Duration {
	return max(time.Minute, 2*s.cfg.Alertmanager.Timeout, 2*s.cfg.Webhook.Timeout,
		2*s.cfg.Kafka.Timeout)
}

// deliverOnce claims up to limit of sink's due messages and sends them in
// order. It stops at the first failure that may pass and hands the rest
// back, due at once and without an attempt counted. It returns the number
// of messages delivered or given up on, and whether a send failed and will
// be retried.
func (s *Service) deliverOnce(ctx context.Context, sink Sink, log *slog.Logger,
	limit int) (int, bool, error) {
	claimed := time.Now()
	msgs, err := s.store.ClaimAlerts(ctx, sink.Name(), limit, s.lease())
	if err != nil {
		return 0, false, err
	}
	// Deliveries are marked in groups, one commit for many sends; a group
	// lost to a crash is sent again.
	bg := context.WithoutCancel(ctx)
	var sent []int64
	lastMark := time.Now()
	mark := func() error {
		err := s.store.MarkAlertsSent(bg, sent)
		sent, lastMark = sent[:0], time.Now()
		return err
	}
	done := 0
	for i, om := range msgs {
		if ctx.Err() != nil || time.Since(claimed) > s.lease()/2 {
			// Stopping, or a slow receiver: hand the rest back before the
			// lease runs out and another worker sends them too.
			return done, false, errors.Join(s.store.DeferAlerts(bg, ids(msgs[i:]), 0), mark())
		}
		ok, retry, err := s.deliver(ctx, sink, om, log)
		if err != nil {
			return done, retry, errors.Join(err, mark())
		}
		if ok {
			sent = append(sent, om.ID)
			if len(sent) >= markEvery || time.Since(lastMark) > time.Second {
				if err := mark(); err != nil {
					return done, false, err
				}
			}
		}
		if !retry {
			done++
			continue
		}
		// Background: a message must not stay leased because ctx ended.
		return done, true, errors.Join(s.store.DeferAlerts(bg, ids(msgs[i+1:]), 0), mark())
	}
	return done, false, mark()
}

func ids(ms []store.OutboxMessage) []int64 {
	out := make([]int64, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

// markEvery is the most deliveries marked in one commit.
const markEvery = 100

// deliver sends one message and records a failure. It reports whether
// the message was delivered (for the caller to mark), and whether it
// failed and will be retried.
func (s *Service) deliver(ctx context.Context, sink Sink, om store.OutboxMessage,
	log *slog.Logger) (sent, retry bool, err error) {
	name := sink.Name()
	bg := context.WithoutCancel(ctx)
	var m Message
	if err := json.Unmarshal(om.Payload, &m); err != nil {
		s.m.dead.WithLabelValues(name).Inc()
		log.Error("alert payload unreadable, giving up", "message_id", om.MessageID, "err", err)
		return false, false, s.store.MarkAlertDead(bg, om.ID, "payload: "+err.Error())
	}

	err = sink.Send(ctx, &m)
	if err == nil {
		s.m.sent.WithLabelValues(name).Inc()
		s.m.latency.WithLabelValues(name).Observe(time.Since(om.CreatedAt).Seconds())
		return true, false, nil
	}
	if ctx.Err() != nil {
		// Stopping: the attempt did not really happen; let it be due now.
		return false, false, s.store.DeferAlerts(bg, []int64{om.ID}, 0)
	}

	s.m.failed.WithLabelValues(name).Inc()
	attempts := om.Attempts + 1
	if errors.Is(err, ErrPermanent) || attempts >= s.cfg.MaxAttempts {
		s.m.dead.WithLabelValues(name).Inc()
		log.Error("alert not delivered, giving up", "message_id", om.MessageID,
			"attempts", attempts, "err", err)
		return false, false, s.store.MarkAlertDead(bg, om.ID, err.Error())
	}
	wait := s.backoff(attempts)
	s.m.retried.WithLabelValues(name).Inc()
	log.Warn("alert delivery failed, will retry", "message_id", om.MessageID,
		"attempts", attempts, "retry_in", wait, "err", err)
	return false, true, s.store.RetryAlert(bg, om.ID, wait, err.Error())
}

// backoff is the wait after the given number of failed attempts: base
// doubled per earlier failure, capped at max, then drawn uniformly from its
// upper half so that messages that failed together spread out ("equal
// jitter").
func (s *Service) backoff(attempts int) time.Duration {
	d := s.cfg.BackoffMax
	if shift := attempts - 1; shift < 30 {
		d = min(d, s.cfg.BackoffBase<<shift)
	}
	half := d / 2
	return half + rand.N(d-half+1)
}
