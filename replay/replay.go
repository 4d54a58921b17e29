// Package replay reads a time range of canonical samples back from a Kafka
// topic, for training. Messages hold one sample each in the encoding of
// timeseries.Encode, keyed by the series key, as the detector's ingest
// stage writes them.
//
// The start offset of each partition is looked up by message timestamp
// (Kafka's ListOffsets by time), a margin before the range's start because
// a message is written after the event it carries; reading stops at the
// partition's end offset as it was when Read began, so a replay ends even
// while producers keep writing. Samples are then kept by their own event
// time.
package replay

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/flowguard/flowguard/timeseries"
)

// Request says what to replay.
type Request struct {
	// Brokers are the bootstrap addresses.
	Brokers []string
	// Topic is the samples topic.
	Topic string
	// From and To bound the samples' event times, [From, To); a zero time
	// leaves that side open.
	From, To time.Time
	// Lead is how far before From the offset lookup by message timestamp
	// starts (default one hour). A message whose timestamp is more than
	// Lead before the event time it carries may be missed.
	Lead time.Duration
	// Keep, if not nil, selects series by message key (the series key)
	// before decoding; nil keeps every series.
	Keep func(key []byte) bool
	// MaxSamples bounds the samples kept (default 5,000,000), so a wrong
	// range cannot exhaust memory; Read fails when it is exceeded.
	MaxSamples int
}

// Stats counts what a replay read.
type Stats struct {
	Messages  int // messages read
	Samples   int // samples kept
	Skipped   int // messages of other series or outside the range
	Malformed int // messages that did not decode
}

// Read replays req and returns the samples of each series in time order
// (series sorted by key) with counts. Messages that do not decode are
// counted and skipped: the detector dead-letters bad input before it
// reaches the samples topic, so these are rare.
func Read(ctx context.Context, req Request) ([][]timeseries.Sample, Stats, error) {
	if len(req.Brokers) == 0 || req.Topic == "" {
		return nil, Stats{}, errors.New("replay: need brokers and a topic")
	}
	if req.Lead == 0 {
		req.Lead = time.Hour
	}
	if req.MaxSamples == 0 {
		req.MaxSamples = 5_000_000
	}
	ranges, err := offsets(ctx, req)
	if err != nil {
		return nil, Stats{}, err
	}
	bySeries := map[string][]timeseries.Sample{}
	var st Stats
	for _, r := range ranges {
		if err := readPartition(ctx, req, r, bySeries, &st); err != nil {
			return nil, st, err
		}
	}
	keys := make([]string, 0, len(bySeries))
	for k := range bySeries {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([][]timeseries.Sample, 0, len(keys))
	for _, k := range keys {
		ss := bySeries[k]
		// Per partition a series is in write order; sort by event time so
		// late arrivals land where the grid expects them.
		slices.SortStableFunc(ss, func(a, b timeseries.Sample) int {
			return a.Time.Compare(b.Time)
		})
		out = append(out, ss)
	}
	return out, st, nil
}

// span is the offsets [start, end) to read from one partition.
type span struct {
	partition  int
	start, end int64
}

// offsets looks up, for every partition of the topic, the first offset at
// or after From - Lead and the current end offset.
func offsets(ctx context.Context, req Request) ([]span, error) {
	cl := &kafka.Client{Addr: kafka.TCP(req.Brokers...), Timeout: 10 * time.Second}
	md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{req.Topic}})
	if err != nil {
		return nil, fmt.Errorf("replay: metadata of %s: %w", req.Topic, err)
	}
	if len(md.Topics) != 1 || md.Topics[0].Error != nil {
		var terr error
		if len(md.Topics) == 1 {
			terr = md.Topics[0].Error
		}
		return nil, fmt.Errorf("replay: topic %s: %w", req.Topic,
			cmp.Or(terr, errors.New("not found")))
	}
	var last, first []kafka.OffsetRequest
	for _, p := range md.Topics[0].Partitions {
		last = append(last, kafka.LastOffsetOf(p.ID))
		if req.From.IsZero() {
			first = append(first, kafka.FirstOffsetOf(p.ID))
		} else {
			first = append(first, kafka.TimeOffsetOf(p.ID, req.From.Add(-req.Lead)))
		}
	}
	// Two requests: Kafka refuses one that names a partition twice.
	ends, err := listOffsets(ctx, cl, req.Topic, last)
	if err != nil {
		return nil, err
	}
	starts, err := listOffsets(ctx, cl, req.Topic, first)
	if err != nil {
		return nil, err
	}
	var out []span
	for p, end := range ends {
		s := span{partition: p, start: end.LastOffset, end: end.LastOffset}
		st := starts[p]
		switch {
		case req.From.IsZero():
			s.start = st.FirstOffset
		case len(st.Offsets) > 0:
			for off := range st.Offsets {
				s.start = off
			}
		}
		// No message at or after the time: nothing to read here.
		if s.start >= 0 && s.start < s.end {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b span) int { return a.partition - b.partition })
	return out, nil
}

func listOffsets(ctx context.Context, cl *kafka.Client, topic string,
	reqs []kafka.OffsetRequest) (map[int]kafka.PartitionOffsets, error) {
	res, err := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{
		Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, fmt.Errorf("replay: list offsets of %s: %w", topic, err)
	}
	out := map[int]kafka.PartitionOffsets{}
	for _, p := range res.Topics[topic] {
		if p.Error != nil {
			return nil, fmt.Errorf("replay: list offsets of %s/%d: %w", topic, p.Partition,
				p.Error)
		}
		out[p.Partition] = p
	}
	return out, nil
}

// readPartition reads one span and keeps the samples in range.
func readPartition(ctx context.Context, req Request, s span,
	out map[string][]timeseries.Sample, st *Stats) (err error) {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   req.Brokers,
		Topic:     req.Topic,
		Partition: s.partition,
		MinBytes:  1,
		MaxBytes:  8 << 20,
		MaxWait:   250 * time.Millisecond,
	})
	defer func() { err = errors.Join(err, closeReader(r)) }()
	if err := r.SetOffset(s.start); err != nil {
		return fmt.Errorf("replay: seek %s/%d to %d: %w", req.Topic, s.partition, s.start, err)
	}
	for {
		m, err := readOne(ctx, r)
		if errors.Is(err, errIdle) && r.Offset() >= s.end {
			// The end offset was a transaction marker or a removed
			// record: nothing more will come below it.
			return nil
		}
		if err != nil {
			return fmt.Errorf("replay: read %s/%d: %w", req.Topic, s.partition, err)
		}
		st.Messages++
		keep(req, m, out, st)
		if st.Samples > req.MaxSamples {
			return fmt.Errorf("replay: more than %d samples in range", req.MaxSamples)
		}
		if m.Offset >= s.end-1 {
			return nil
		}
	}
}

// errIdle means no message arrived within idleTimeout.
var errIdle = errors.New("no message for " + idleTimeout.String())

// idleTimeout bounds the wait for one message of a range that should be
// there already.
const idleTimeout = 10 * time.Second

func readOne(ctx context.Context, r *kafka.Reader) (kafka.Message, error) {
	rctx, cancel := context.WithTimeout(ctx, idleTimeout)
	defer cancel()
	m, err := r.ReadMessage(rctx)
	if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return m, errIdle
	}
	return m, err
}

func keep(req Request, m kafka.Message, out map[string][]timeseries.Sample, st *Stats) {
	if req.Keep != nil && !req.Keep(m.Key) {
		st.Skipped++
		return
	}
	smp, err := timeseries.DecodeSample(m.Value)
	if err != nil {
		st.Malformed++
		return
	}
	if (!req.From.IsZero() && smp.Time.Before(req.From)) ||
		(!req.To.IsZero() && !smp.Time.Before(req.To)) {
		st.Skipped++
		return
	}
	k := smp.Series.Key()
	out[k] = append(out[k], smp)
	st.Samples++
}

// closeReader closes r, giving up after a few seconds: a partition reader
// has no group to leave, so a slow close only delays the replay.
func closeReader(r *kafka.Reader) error {
	done := make(chan error, 1)
	go func() { done <- r.Close() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("replay: close reader: %w", err)
		}
		return nil
	case <-time.After(5 * time.Second):
		return nil
	}
}

// KeySet returns a Keep function that keeps the series with the given keys.
func KeySet(keys []string) func([]byte) bool {
	set := make(map[string]struct{}, len(keys))
	for _, k := range keys {
		set[k] = struct{}{}
	}
	return func(key []byte) bool {
		_, ok := set[string(key)]
		return ok
	}
}
