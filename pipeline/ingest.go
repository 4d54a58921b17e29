package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/flowguard/flowguard/timeseries"
)

// The headers of a dead-letter message. Its key and value are those of the
// input message.
const (
	HeaderErrorKind       = "flowguard-error-kind"
	HeaderError           = "flowguard-error"
	HeaderFailedSamples   = "flowguard-failed-samples"
	HeaderSourceTopic     = "flowguard-source-topic"
	HeaderSourcePartition = "flowguard-source-partition"
	HeaderSourceOffset    = "flowguard-source-offset"
)

// maxErrorHeader bounds the error text carried in a dead-letter header.
const maxErrorHeader = 1024

// IngestConfig configures the ingest stage.
type IngestConfig struct {
	Brokers []string
	// Topics are the input topics producers write to.
	Topics []string
	// Group is the consumer group of the ingest readers.
	Group string
	// Decoder reads input payloads.
	Decoder timeseries.Decoder
	// SamplesTopic receives one canonical sample per message, keyed by
	// series key.
	SamplesTopic string
	// DeadLetterTopic receives input messages that failed to decode, or
	// carry a sample past MaxFuture.
	DeadLetterTopic string
	// MaxFuture bounds how far a sample's time may lie ahead of the
	// ingest's clock when it is decoded; a sample beyond it is not
	// written, and its message is dead-lettered with the kind
	// future_timestamp. One such sample would otherwise move its series'
	// newest time years ahead, after which the grid refuses every real
	// sample of the series as too late, and nothing in event time ends
	// that. Zero: no bound.
	MaxFuture time.Duration
	// BatchSize and BatchWait bound a micro-batch: its messages are
	// written, then their offsets committed, together. Defaults 1000 and
	// 20ms.
	BatchSize int
	BatchWait time.Duration
	// StopTimeout bounds the last batch and the reader's close once Run's
	// context ends. Default 10s.
	StopTimeout time.Duration
	// SessionTimeout and HeartbeatInterval tune the group membership;
	// zero keeps kafka-go's defaults (30s and 3s).
	SessionTimeout    time.Duration
	HeartbeatInterval time.Duration
}

func (c *IngestConfig) setDefaults() {
	if c.BatchSize <= 0 {
		c.BatchSize = 1000
	}
	if c.BatchWait <= 0 {
		c.BatchWait = 20 * time.Millisecond
	}
	if c.StopTimeout <= 0 {
		c.StopTimeout = 10 * time.Second
	}
}

// Ingest reads the input topics, re-keys decoded samples by series into
// the samples topic and sends what it cannot decode to the dead-letter
// topic. Input offsets are committed only after both writes are
// acknowledged by all in-sync replicas, so nothing is lost; after a crash
// some samples may be written twice, which the grid's aggregation absorbs.
// The samples of each batch are written in time order (see byTime).
type Ingest struct {
	cfg IngestConfig
	m   *Metrics
	log *slog.Logger

	mu     sync.Mutex
	logged map[string]bool // failure kinds already logged
}

// NewIngest checks cfg and returns the stage; Run starts it. A nil log
// discards logs.
func NewIngest(cfg IngestConfig, m *Metrics, log *slog.Logger) (*Ingest, error) {
	cfg.setDefaults()
	switch {
	case len(cfg.Brokers) == 0, len(cfg.Topics) == 0:
		return nil, errors.New("pipeline: ingest: need brokers and input topics")
	case cfg.Decoder == nil, cfg.SamplesTopic == "", cfg.DeadLetterTopic == "":
		return nil, errors.New("pipeline: ingest: need a decoder, samples and dead-letter topics")
	case cfg.Group == "":
		return nil, errors.New("pipeline: ingest: need a consumer group")
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Ingest{cfg: cfg, m: m, log: log.With("stage", "ingest"),
		logged: map[string]bool{}}, nil
}

// Run consumes until ctx ends, then finishes the batch in hand (within
// StopTimeout), commits it and leaves the group. It returns nil after a
// clean stop and an error when the reader fails.
func (in *Ingest) Run(ctx context.Context) error {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: in.cfg.Brokers, GroupID: in.cfg.Group, GroupTopics: in.cfg.Topics,
		StartOffset: kafka.FirstOffset, MaxWait: 250 * time.Millisecond,
		SessionTimeout: in.cfg.SessionTimeout, HeartbeatInterval: in.cfg.HeartbeatInterval,
		ReadLagInterval: -1, Dialer: &kafka.Dialer{Timeout: dialer.Timeout},
	})
	w := newWriter(in.cfg.Brokers)
	f := startFetcher(r, 2*in.cfg.BatchSize)
	in.log.Info("ingest started", "topics", in.cfg.Topics, "group", in.cfg.Group)

	var err error
	var batch []kafka.Message
	var out []kafka.Message
	for ctx.Err() == nil {
		batch, err = f.next(ctx, batch[:0], in.cfg.BatchSize, in.cfg.BatchWait, time.Second)
		if err != nil {
			break
		}
		if len(batch) == 0 {
			continue
		}
		out = in.convert(batch, out[:0])
		if err = in.flush(ctx, r, w, batch, out); err != nil {
			break
		}
	}
	f.stop()
	if err == nil || errors.Is(err, errStopped) {
		err = nil
	}
	return errors.Join(err, w.Close(), closeReader(r, in.cfg.StopTimeout))
}

// flush writes out, then commits batch. When ctx ends it keeps trying for
// StopTimeout, so the batch in hand is not abandoned by a clean stop.
func (in *Ingest) flush(ctx context.Context, r *kafka.Reader, w *kafka.Writer,
	batch, out []kafka.Message) error {
	wctx, cancel := stopContext(ctx, in.cfg.StopTimeout)
	defer cancel()
	b := backoff{min: 100 * time.Millisecond, max: 5 * time.Second}
	for {
		err := w.WriteMessages(wctx, out...)
		if err == nil {
			break
		}
		in.log.Warn("write samples failed, retrying", "err", err, "messages", len(out))
		if !sleep(wctx, b.next()) {
			return fmt.Errorf("pipeline: ingest: write: %w", err)
		}
	}
	for {
		err := r.CommitMessages(wctx, batch...)
		if err == nil {
			return nil
		}
		in.log.Warn("commit failed, retrying", "err", err)
		if !sleep(wctx, b.next()) {
			return fmt.Errorf("pipeline: ingest: commit: %w", err)
		}
	}
}

// convert decodes batch into sample and dead-letter messages appended to
// out, the samples in time order (see byTime).
func (in *Ingest) convert(batch, out []kafka.Message) []kafka.Message {
	first := len(out)
	var times []int64
	var dead []kafka.Message
	now := time.Now()
	for i := range batch {
		m := &batch[i]
		in.m.ingestMessages.WithLabelValues(m.Topic).Inc()
		samples, err := in.cfg.Decoder.Decode(m.Value)
		if len(samples) == 0 && err == nil {
			// The decoders say so themselves; another Decoder might not,
			// and a message must not vanish unseen.
			err = &timeseries.DecodeError{Kind: timeseries.KindNoSamples,
				Err: errors.New("the decoder found no sample")}
		}
		if in.cfg.MaxFuture > 0 {
			samples, err = in.dropFuture(samples, err, now)
		}
		for j := range samples {
			s := &samples[j]
			out = append(out, kafka.Message{Topic: in.cfg.SamplesTopic,
				Key: s.Series.AppendKey(nil), Value: timeseries.Encode(s), Time: m.Time})
			times = append(times, s.Time.UnixNano())
		}
		in.m.ingestSamples.Add(float64(len(samples)))
		if err != nil {
			dead = append(dead, in.deadLetter(m, err))
		}
	}
	if !slices.IsSorted(times) {
		sort.Stable(byTime{msgs: out[first:], times: times})
	}
	return append(out, dead...)
}

// dropFuture removes the samples whose time lies more than MaxFuture past
// now, adding one DecodeError for each to err.
func (in *Ingest) dropFuture(samples []timeseries.Sample, err error,
	now time.Time) ([]timeseries.Sample, error) {
	limit := now.Add(in.cfg.MaxFuture)
	kept := samples[:0]
	errs := []error{err}
	for _, s := range samples {
		if !s.Time.After(limit) {
			kept = append(kept, s)
			continue
		}
		errs = append(errs, &timeseries.DecodeError{Kind: timeseries.KindFutureTimestamp,
			Err: fmt.Errorf("series %s at %s is %s ahead of the ingest's clock (%s), "+
				"more than max_future %v", s.Series.Key(), s.Time.Format(time.RFC3339Nano),
				ahead(s.Time.Sub(now)), now.UTC().Format(time.RFC3339), in.cfg.MaxFuture)})
	}
	return kept, errors.Join(errs...)
}

// ahead says how far ahead a time is: 647423h is easier read as days.
func ahead(d time.Duration) string {
	if d < 48*time.Hour {
		return d.Round(time.Second).String()
	}
	return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + " days"
}

// byTime sorts sample messages by sample time. Kafka keeps order only
// within a partition, and the reader hands over each partition's fetch in
// one burst, so a series whose messages are spread over the input
// partitions (unkeyed) arrives in chunks out of time order, and the grid
// refuses a sample older than its series' newest by more than its
// lateness. Sorting a batch puts each series back in order as far as the
// batch reaches; a backlog larger than one batch still arrives out of
// order. The sort is stable, so samples of equal time keep their order
// and input in order already is left as it is.
type byTime struct {
	msgs  []kafka.Message
	times []int64
}

func (b byTime) Len() int           { return len(b.times) }
func (b byTime) Less(i, j int) bool { return b.times[i] < b.times[j] }
func (b byTime) Swap(i, j int) {
	b.msgs[i], b.msgs[j] = b.msgs[j], b.msgs[i]
	b.times[i], b.times[j] = b.times[j], b.times[i]
}

// deadLetter counts the failures in err (undecodable, or past MaxFuture)
// and returns the message that carries m to the dead-letter topic.
func (in *Ingest) deadLetter(m *kafka.Message, err error) kafka.Message {
	des := timeseries.DecodeErrors(err)
	kind := timeseries.ErrorKind(err).String()
	if len(des) == 0 {
		in.m.decodeFailures.WithLabelValues(kind).Inc()
	}
	for _, de := range des {
		in.m.decodeFailures.WithLabelValues(de.Kind.String()).Inc()
	}
	in.m.deadLetters.Inc()
	in.logOnce(kind, m, err)

	msg := err.Error()
	if len(msg) > maxErrorHeader {
		msg = msg[:maxErrorHeader]
	}
	return kafka.Message{Topic: in.cfg.DeadLetterTopic, Key: m.Key, Value: m.Value,
		Time: m.Time, Headers: []kafka.Header{
			{Key: HeaderErrorKind, Value: []byte(kind)},
			{Key: HeaderError, Value: []byte(msg)},
			{Key: HeaderFailedSamples, Value: []byte(strconv.Itoa(max(1, len(des))))},
			{Key: HeaderSourceTopic, Value: []byte(m.Topic)},
			{Key: HeaderSourcePartition, Value: []byte(strconv.Itoa(m.Partition))},
			{Key: HeaderSourceOffset, Value: []byte(strconv.FormatInt(m.Offset, 10))},
		}}
}

// logOnce logs the first failure of each kind; the metrics count the rest.
func (in *Ingest) logOnce(kind string, m *kafka.Message, err error) {
	in.mu.Lock()
	seen := in.logged[kind]
	in.logged[kind] = true
	in.mu.Unlock()
	if seen {
		return
	}
	in.log.Warn("bad input sent to the dead-letter topic; further ones of this "+
		"kind are only counted", "kind", kind, "topic", m.Topic, "partition", m.Partition,
		"offset", m.Offset, "err", strings.TrimPrefix(err.Error(), "timeseries: "))
}

func newWriter(brokers []string) *kafka.Writer {
	return &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Balancer:     &kafka.Hash{},
		RequiredAcks: kafka.RequireAll,
		BatchSize:    1000,
		BatchTimeout: 2 * time.Millisecond,
		WriteTimeout: 10 * time.Second,
		MaxAttempts:  3,
		Transport:    &kafka.Transport{Dial: dialer.DialContext},
	}
}

// stopContext returns a context that outlives ctx by grace: work in hand
// when ctx ends gets grace to finish.
func stopContext(ctx context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(grace, cancel)
		context.AfterFunc(wctx, func() { t.Stop() })
	})
	return wctx, func() { stop(); cancel() }
}
