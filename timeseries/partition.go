package timeseries

import (
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"iter"
	"maps"
	"slices"
	"time"
)

// Partition holds the series of one input partition, all with one Config.
// It is not safe for concurrent use: the consumer of a partition owns it.
type Partition struct {
	cfg     Config
	series  map[string]*Series
	sc      map[int]*scratch // by channel count
	keyBuf  []byte
	retired Stats // counters of evicted series, so totals never go down
}

// NewPartition returns an empty partition.
func NewPartition(cfg Config) (*Partition, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Lags = slices.Clone(cfg.Lags)
	return &Partition{cfg: cfg, series: make(map[string]*Series), sc: make(map[int]*scratch)}, nil
}

// Config returns the partition's configuration.
func (p *Partition) Config() Config { return p.cfg }

// Push routes a sample to its series, creating the series on first sight,
// and returns the series with the Result. The steps of the Result are read
// from the returned series before the next Push on any series of p,
// because the series share one scratch buffer. A sample with no values or
// a channel count other than Config.Channels is refused with
// ReasonChannels; the series is nil when a refused sample would have been
// its first.
// Pushing to a known series does not allocate.
func (p *Partition) Push(smp *Sample) (*Series, Result) {
	p.keyBuf = smp.Series.AppendKey(p.keyBuf[:0])
	s := p.series[string(p.keyBuf)]
	if s == nil {
		c := len(smp.Values)
		if c == 0 || (p.cfg.Channels > 0 && c != p.cfg.Channels) {
			p.retired.Invalid++
			return nil, Result{Reason: ReasonChannels}
		}
		if !allFinite(smp.Values) {
			// Do not hold memory for a series that has sent nothing usable.
			p.retired.Invalid++
			return nil, Result{Reason: ReasonNonFinite}
		}
		s = newSeries(cloneID(smp.Series), &p.cfg, p.scratch(c), c)
		p.series[string(p.keyBuf)] = s
	}
	return s, s.Push(smp)
}

func (p *Partition) scratch(c int) *scratch {
	sc := p.sc[c]
	if sc == nil {
		sc = newScratch(&p.cfg, c)
		p.sc[c] = sc
	}
	return sc
}

// cloneID copies the label slice so a series never aliases a caller's
// sample.
func cloneID(id SeriesID) SeriesID {
	id.Labels = slices.Clone(id.Labels)
	return id
}

// Get returns the series with key (as SeriesID.Key), or nil.
func (p *Partition) Get(key string) *Series { return p.series[key] }

// Len returns the number of live series.
func (p *Partition) Len() int { return len(p.series) }

// All iterates over the live series by key, in no particular order.
func (p *Partition) All() iter.Seq2[string, *Series] { return maps.All(p.series) }

// Evict drops the series whose newest sample time is more than
// Config.IdleAfter before now and returns how many it dropped. Pass the
// partition's event-time high-water mark for replays that behave the same
// every time, or the wall clock to bound memory whatever the data says.
// With IdleAfter zero it does nothing. Open steps of an evicted series
// are dropped unscored; Flush the series first to keep them.
func (p *Partition) Evict(now time.Time) int {
	if p.cfg.IdleAfter <= 0 {
		return 0
	}
	cut := now.Add(-p.cfg.IdleAfter).UnixNano()
	n := 0
	for k, s := range p.series {
		if s.newest() < cut {
			p.retired.Add(s.st.Stats)
			p.retired.Evicted++
			delete(p.series, k)
			n++
		}
	}
	return n
}

// Stats sums the counters of all series, evicted ones included, so every
// field only grows and can back a Prometheus counter.
func (p *Partition) Stats() Stats {
	total := p.retired
	for _, s := range p.series {
		total.Add(s.st.Stats)
	}
	return total
}

// snapshotVersion changes whenever the encoded state changes shape.
const snapshotVersion = 1

type snapshotHeader struct {
	Version     int
	Fingerprint string
	Retired     Stats
	Series      []seriesSnapshot
}

type seriesSnapshot struct {
	ID    SeriesID
	State seriesState
}

// Snapshot writes the whole partition state (open steps, rings, lag
// histories, warm-up buffers, counters) to w with encoding/gob, tagged
// with a format version and the settings it depends on.
func (p *Partition) Snapshot(w io.Writer) error {
	h := snapshotHeader{Version: snapshotVersion, Fingerprint: p.cfg.fingerprint(),
		Retired: p.retired}
	for _, k := range slices.Sorted(maps.Keys(p.series)) {
		s := p.series[k]
		h.Series = append(h.Series, seriesSnapshot{ID: s.id, State: s.st})
	}
	if err := gob.NewEncoder(w).Encode(&h); err != nil {
		return fmt.Errorf("timeseries: snapshot: %w", err)
	}
	return nil
}

// ErrSnapshotMismatch is returned by RestorePartition when the snapshot
// was taken with another format version or with settings (step, window,
// lags, ...) other than cfg's; the state must then be rebuilt from input.
var ErrSnapshotMismatch = errors.New("timeseries: snapshot does not match config")

// RestorePartition reads a snapshot written by Partition.Snapshot for a
// partition with the same cfg.
func RestorePartition(r io.Reader, cfg Config) (*Partition, error) {
	p, err := NewPartition(cfg)
	if err != nil {
		return nil, err
	}
	var h snapshotHeader
	if err := gob.NewDecoder(r).Decode(&h); err != nil {
		return nil, fmt.Errorf("timeseries: restore: %w", err)
	}
	if h.Version != snapshotVersion || h.Fingerprint != p.cfg.fingerprint() {
		return nil, fmt.Errorf("%w: version %d, %s", ErrSnapshotMismatch, h.Version, h.Fingerprint)
	}
	p.retired = h.Retired
	for _, ss := range h.Series {
		c := ss.State.C
		if c < 1 || c > len(ss.State.Ring) || (cfg.Channels > 0 && c != cfg.Channels) {
			return nil, fmt.Errorf("timeseries: restore %s: bad channel count %d", ss.ID.Key(), c)
		}
		s := newSeries(ss.ID, &p.cfg, p.scratch(c), c)
		if err := s.restore(ss.State); err != nil {
			return nil, fmt.Errorf("timeseries: restore %s: %w", ss.ID.Key(), err)
		}
		p.series[ss.ID.Key()] = s
	}
	return p, nil
}

// restore installs st after checking its shape against the series', so a
// corrupt snapshot fails here instead of panicking later.
func (s *Series) restore(st seriesState) error {
	want := s.st
	if st.Norm == nil && want.Norm != nil {
		// gob drops a pointer to an all-zero struct: a warm-up not begun.
		st.Norm = &onlineNorm{}
	}
	ok := st.C == want.C && len(st.Ring) == len(want.Ring) && len(st.Last) == len(want.Last) &&
		len(st.Filled) == len(want.Filled) && len(st.Open) == len(want.Open) &&
		len(st.OpenAcc) == len(want.OpenAcc) && (st.Lag == nil) == (want.Lag == nil) &&
		(st.Norm == nil) == (want.Norm == nil) && st.Seq >= 0 && st.Since >= 0
	if ok && st.Lag != nil {
		ok = len(st.Lag.Vals) == len(want.Lag.Vals) && len(st.Lag.Acc) == len(want.Lag.Acc) &&
			st.Lag.Res == want.Lag.Res
	}
	if !ok {
		return errors.New("state shape differs from config")
	}
	s.st = st
	return nil
}
