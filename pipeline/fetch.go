package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// fetcher moves messages from a group Reader into a channel, so a stage
// can gather micro-batches with a deadline and stop fetching without
// abandoning the batch it holds.
type fetcher struct {
	r      *kafka.Reader
	msgs   chan kafka.Message
	err    error // set before msgs is closed
	cancel context.CancelFunc
	done   chan struct{}
}

func startFetcher(r *kafka.Reader, buffer int) *fetcher {
	ctx, cancel := context.WithCancel(context.Background())
	f := &fetcher{r: r, msgs: make(chan kafka.Message, buffer), cancel: cancel,
		done: make(chan struct{})}
	go f.loop(ctx)
	return f
}

func (f *fetcher) loop(ctx context.Context) {
	defer close(f.done)
	defer close(f.msgs)
	for {
		m, err := f.r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() == nil {
				f.err = err
			}
			return
		}
		select {
		case f.msgs <- m:
		case <-ctx.Done():
			return
		}
	}
}

// stop ends fetching and waits for the goroutine. Messages fetched but not
// taken are dropped; they were not committed, so they are read again.
func (f *fetcher) stop() {
	f.cancel()
	<-f.done
}

// errStopped is returned by next once the fetcher has ended.
var errStopped = errors.New("pipeline: fetcher stopped")

// next appends to dst the messages that arrive within wait of the first
// one, at most max. It returns with what it has when idle passes without a
// first message or ctx ends, and errStopped (or the fetch error) once the
// fetcher ended and nothing is left.
func (f *fetcher) next(ctx context.Context, dst []kafka.Message, max int,
	wait, idle time.Duration) ([]kafka.Message, error) {
	idleT := time.NewTimer(idle)
	defer idleT.Stop()
	select {
	case m, ok := <-f.msgs:
		if !ok {
			return dst, f.ended()
		}
		dst = append(dst, m)
	case <-idleT.C:
		return dst, nil
	case <-ctx.Done():
		return dst, nil
	}
	waitT := time.NewTimer(wait)
	defer waitT.Stop()
	for len(dst) < max {
		select {
		case m, ok := <-f.msgs:
			if !ok {
				return dst, nil
			}
			dst = append(dst, m)
		case <-waitT.C:
			return dst, nil
		case <-ctx.Done():
			return dst, nil
		}
	}
	return dst, nil
}

func (f *fetcher) ended() error {
	if f.err != nil {
		return fmt.Errorf("pipeline: fetch: %w", f.err)
	}
	return errStopped
}

// closeReader closes r, leaving its group, but gives up after timeout:
// kafka-go's Close waits for the group's goroutines, and a broker that no
// longer answers must not hang the process.
func closeReader(r *kafka.Reader, timeout time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- r.Close() }()
	select {
	case err := <-errc:
		if err != nil {
			return fmt.Errorf("pipeline: close reader: %w", err)
		}
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("pipeline: close reader: gave up after %v", timeout)
	}
}

// backoff doubles a retry delay up to a ceiling.
type backoff struct {
	cur, min, max time.Duration
}

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
		return b.cur
	}
	b.cur = min(2*b.cur, b.max)
	return b.cur
}

func (b *backoff) reset() { b.cur = 0 }

// Sleep waits d or until ctx ends, and reports whether it slept the full
// time with ctx still live. A d of zero or less does not wait; it reports
// whether ctx is live, so a cancelled ctx never reads as a completed sleep.
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// sleep keeps the package's retry loops on the shared Sleep.
func sleep(ctx context.Context, d time.Duration) bool { return Sleep(ctx, d) }
