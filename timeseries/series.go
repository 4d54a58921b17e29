package timeseries

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// Reason says why Push refused a sample.
type Reason uint8

// Rejection reasons. ReasonNone means the sample was taken.
const (
	ReasonNone      Reason = iota
	ReasonTooLate          // its step is already final (or, as it comes, it is older than the last)
	ReasonDuplicate        // as it comes: same time as the previous sample
	ReasonChannels         // wrong number of values
	ReasonNonFinite        // a value is NaN or infinite
	ReasonBadTime          // the time is outside int64 Unix nanoseconds
)

var reasonNames = [...]string{"none", "too_late", "duplicate", "channels", "non_finite", "bad_time"}

// String returns the reason's snake_case name, usable as a metric label.
func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "reason(" + strconv.Itoa(int(r)) + ")"
}

// Result is what one Push or Flush did.
type Result struct {
	// Reason is ReasonNone when the sample was taken.
	Reason Reason
	// Emitted is the number of steps completed by this call, available
	// through Step(ago) and WindowAt(dst, ago) for ago in [0, Emitted),
	// ago 0 being the newest.
	Emitted int
}

// Stats counts every decision a series makes. Fields only grow.
type Stats struct {
	Accepted       uint64 // samples taken into a step
	LateAccepted   uint64 // of those, older than the newest sample seen
	Duplicates     uint64 // of those, with a time already in their step
	TooLate        uint64 // rejected: step already final, or older than the last as it comes
	DupRejected    uint64 // rejected as it comes: same time as the previous sample
	Invalid        uint64 // rejected: wrong channel count, non-finite value or bad time
	Steps          uint64 // steps emitted from data
	GapFilled      uint64 // steps emitted by gap filling
	WindowRestarts uint64 // gaps longer than MaxFill
	CounterResets  uint64 // steps where a counter went down
	Evicted        uint64 // series evicted (Partition only)
}

// Add adds o to s field by field.
func (s *Stats) Add(o Stats) {
	s.Accepted += o.Accepted
	s.LateAccepted += o.LateAccepted
	s.Duplicates += o.Duplicates
	s.TooLate += o.TooLate
	s.DupRejected += o.DupRejected
	s.Invalid += o.Invalid
	s.Steps += o.Steps
	s.GapFilled += o.GapFilled
	s.WindowRestarts += o.WindowRestarts
	s.CounterResets += o.CounterResets
	s.Evicted += o.Evicted
}

// Step is one completed grid step.
type Step struct {
	// Time is the start of the step (its sample's time as it comes), UTC.
	Time time.Time
	// Values are the step's C values; they alias the series' ring and are
	// valid until the next Push or Flush.
	Values []float64
	// Filled marks a step made up by gap filling: do not score or flag it.
	Filled bool
	// Ready reports whether a full window of W steps since the last
	// restart ends at this step.
	Ready bool
}

// stepMeta is the transient record of an emitted step.
type stepMeta struct {
	t      int64
	filled bool
}

// scratch holds what one Push hands back; a Partition shares one among its
// series because results are read before the next Push.
type scratch struct {
	meta []stepMeta
	vals []float64 // C values for a step being built
}

// seriesState is everything a snapshot must keep. Fields are exported for
// encoding/gob only.
type seriesState struct {
	C int

	// The ring holds the last Cap emitted steps; step number k (counting
	// from 0 since creation) is in slot k % Cap.
	Ring   []float64
	Filled []uint64
	Seq    int64
	Since  int // steps since the last restart

	HasLast  bool
	Last     []float64 // raw (pre-rate) values of the newest emitted or baseline step
	LastIdx  int64     // its grid index
	LastTime int64     // its time, ns

	HasMax   bool
	MaxTs    int64 // newest sample time seen, ns
	Frontier int64 // first grid index not yet final

	// Open steps: Open[i % P] holds grid index i when its N > 0, with
	// its C accumulators in OpenAcc.
	Open    []openStep
	OpenAcc []float64

	Lag   *lagHistory
	Norm  *onlineNorm
	Stats Stats
}

// openStep is a grid step still taking samples.
type openStep struct {
	Idx int64 // grid index
	Ts  int64 // newest sample time in it, ns
	N   int32 // samples in it; 0 means free
}

// Series is the state of one series: its grid, its ring of recent steps,
// its lag history and counters. It is not safe for concurrent use; the
// owner of a partition owns its series.
type Series struct {
	id  SeriesID
	cfg *Config
	sc  *scratch
	cap int
	st  seriesState
}

// NewSeries returns an empty series with the given number of channels.
// cfg.Channels, if set, must equal channels.
func NewSeries(id SeriesID, cfg Config, channels int) (*Series, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if channels < 1 || (cfg.Channels > 0 && cfg.Channels != channels) {
		return nil, fmt.Errorf("timeseries: new series: bad channel count %d", channels)
	}
	c := cfg
	return newSeries(id, &c, newScratch(&c, channels), channels), nil
}

func newScratch(cfg *Config, channels int) *scratch {
	return &scratch{meta: make([]stepMeta, 0, cfg.maxEmit()), vals: make([]float64, channels)}
}

func newSeries(id SeriesID, cfg *Config, sc *scratch, channels int) *Series {
	s := &Series{id: id, cfg: cfg, sc: sc}
	s.cap = cfg.Window + cfg.maxEmit() - 1
	p := cfg.openSlots()
	st := &s.st
	st.C = channels
	// One allocation for all float state keeps a series compact.
	f := make([]float64, (s.cap+1+p)*channels)
	st.Ring, st.Last, st.OpenAcc = f[:s.cap*channels], f[s.cap*channels:(s.cap+1)*channels],
		f[(s.cap+1)*channels:]
	st.Filled = make([]uint64, (s.cap+63)/64)
	if cfg.Step > 0 {
		st.Open = make([]openStep, p)
	}
	if len(cfg.Lags) > 0 {
		st.Lag = newLagHistory(cfg, channels)
	}
	if cfg.NormWarmUp > 0 {
		st.Norm = &onlineNorm{}
	}
	return s
}

// ID returns the series identity.
func (s *Series) ID() SeriesID { return s.id }

// Channels returns C.
func (s *Series) Channels() int { return s.st.C }

// Stats returns the series' counters.
func (s *Series) Stats() Stats { return s.st.Stats }

// Ready reports whether W steps have been emitted since the last restart,
// so Window can fill a window.
func (s *Series) Ready() bool { return s.st.Since >= s.cfg.Window }

// LastSampleTime returns the newest sample time seen, or the zero time.
func (s *Series) LastSampleTime() time.Time {
	if !s.st.HasMax && !s.st.HasLast {
		return time.Time{}
	}
	return time.Unix(0, s.newest()).UTC()
}

func (s *Series) newest() int64 {
	if s.cfg.Step == 0 {
		return s.st.LastTime
	}
	return s.st.MaxTs
}

// Normaliser returns the series' own robust normaliser once NormWarmUp
// observed steps have been seen, and false before (or when off).
func (s *Series) Normaliser() (Normaliser, bool) {
	if s.st.Norm == nil || !s.st.Norm.Done {
		return Normaliser{}, false
	}
	return s.st.Norm.Norm, true
}

// Push takes one sample of this series (its identity is not checked) and
// returns what happened. Steps the sample completed are read with Step and
// WindowAt before the next Push. It does not allocate.
func (s *Series) Push(smp *Sample) Result {
	s.sc.meta = s.sc.meta[:0]
	st := &s.st
	if len(smp.Values) != st.C {
		st.Stats.Invalid++
		return Result{Reason: ReasonChannels}
	}
	if !allFinite(smp.Values) {
		st.Stats.Invalid++
		return Result{Reason: ReasonNonFinite}
	}
	if smp.Time.Before(minSampleTime) || smp.Time.After(maxSampleTime) {
		st.Stats.Invalid++
		return Result{Reason: ReasonBadTime}
	}
	t := smp.Time.UnixNano()
	if s.cfg.Step == 0 {
		return s.pushAsItComes(t, smp.Values)
	}

	step := int64(s.cfg.Step)
	idx := floorDiv(t, step)
	if st.HasMax && idx < st.Frontier {
		st.Stats.TooLate++
		return Result{Reason: ReasonTooLate}
	}
	switch {
	case !st.HasMax:
		st.HasMax, st.MaxTs = true, t
		st.Frontier = floorDiv(satSub(t, int64(s.cfg.Lateness)), step)
	case t < st.MaxTs:
		st.Stats.LateAccepted++
	case t > st.MaxTs:
		st.MaxTs = t
		s.finalise(floorDiv(satSub(t, int64(s.cfg.Lateness)), step))
	}
	s.add(idx, t, smp.Values)
	st.Stats.Accepted++
	return Result{Emitted: len(s.sc.meta)}
}

// Flush finalises every open step, as if time had moved past them, and
// returns the steps emitted. Use it at the end of a replay or before
// snapshotting a series that went quiet. Samples older than the newest
// already seen are too late afterwards.
func (s *Series) Flush() Result {
	s.sc.meta = s.sc.meta[:0]
	if s.cfg.Step > 0 && s.st.HasMax {
		s.finalise(floorDiv(s.st.MaxTs, int64(s.cfg.Step)) + 1)
	}
	return Result{Emitted: len(s.sc.meta)}
}

// Advance finalises the steps that ended more than Lateness before now,
// as a sample at now would, and returns the steps emitted. Call it with
// the partition's event-time high-water mark so the last step of a quiet
// series is scored without waiting for its next sample; samples for those
// steps are too late afterwards. It does nothing as it comes, before the
// first sample, or when now is not past the newest sample.
func (s *Series) Advance(now time.Time) Result {
	s.sc.meta = s.sc.meta[:0]
	if s.cfg.Step > 0 && s.st.HasMax && now.After(time.Unix(0, s.st.MaxTs)) &&
		!now.After(maxSampleTime) {
		step := int64(s.cfg.Step)
		s.finalise(floorDiv(satSub(now.UnixNano(), int64(s.cfg.Lateness)), step))
	}
	return Result{Emitted: len(s.sc.meta)}
}

func (s *Series) pushAsItComes(t int64, vals []float64) Result {
	st := &s.st
	if st.HasLast && t <= st.LastTime {
		if t == st.LastTime {
			st.Stats.DupRejected++
			return Result{Reason: ReasonDuplicate}
		}
		st.Stats.TooLate++
		return Result{Reason: ReasonTooLate}
	}
	st.Stats.Accepted++
	s.emit(t, 0, vals, false)
	return Result{Emitted: len(s.sc.meta)}
}

// add aggregates a sample into its open step.
func (s *Series) add(idx, t int64, vals []float64) {
	st := &s.st
	p := int64(len(st.Open))
	slot := int(floorMod(idx, p))
	acc := st.OpenAcc[slot*st.C : (slot+1)*st.C]
	o := &st.Open[slot]
	if o.N == 0 || o.Idx != idx {
		*o = openStep{Idx: idx, Ts: t, N: 1}
		copy(acc, vals)
		return
	}
	if t == o.Ts {
		st.Stats.Duplicates++
	}
	o.N++
	switch s.cfg.Aggregation {
	case AggMean, AggSum:
		for i, v := range vals {
			acc[i] += v
		}
	case AggLast:
		if t >= o.Ts {
			copy(acc, vals)
		}
	case AggMax:
		for i, v := range vals {
			acc[i] = max(acc[i], v)
		}
	}
	o.Ts = max(o.Ts, t)
}

// finalise emits, in grid order, the open steps before grid index to.
func (s *Series) finalise(to int64) {
	st := &s.st
	if to <= st.Frontier {
		return
	}
	p := int64(len(st.Open))
	// Only [Frontier, Frontier+p) can hold open steps.
	end := min(to, satAdd(st.Frontier, p))
	for i := st.Frontier; i < end; i++ {
		slot := int(floorMod(i, p))
		o := &st.Open[slot]
		if o.N == 0 || o.Idx != i {
			continue
		}
		acc := st.OpenAcc[slot*st.C : (slot+1)*st.C]
		if s.cfg.Aggregation == AggMean {
			n := float64(o.N)
			for k := range acc {
				acc[k] /= n
			}
		}
		s.emitGrid(i, acc)
		o.N = 0
	}
	st.Frontier = to
}

// emitGrid emits the step at grid index idx, filling or restarting after a
// gap.
func (s *Series) emitGrid(idx int64, vals []float64) {
	st := &s.st
	step := int64(s.cfg.Step)
	if st.HasLast {
		gap := idx - st.LastIdx - 1
		switch {
		case gap > int64(s.cfg.MaxFill):
			st.Since = 0
			st.Stats.WindowRestarts++
		case gap > 0:
			fill := s.sc.vals
			for j := int64(1); j <= gap; j++ {
				// Last moves to each filled step, so the linear step is
				// the distance left over the steps left.
				for k := range fill {
					fill[k] = st.Last[k]
					if s.cfg.Fill == FillLinear {
						fill[k] += (vals[k] - st.Last[k]) / float64(gap+2-j)
					}
				}
				s.emit((st.LastIdx+1)*step, st.LastIdx+1, fill, true)
			}
		}
	}
	s.emit(idx*step, idx, vals, false)
}

// emit writes one step to the ring, turning counters into rates first.
func (s *Series) emit(t, idx int64, raw []float64, filled bool) {
	st := &s.st
	if s.cfg.Counter && !st.HasLast {
		s.setLast(t, idx, raw)
		return
	}
	slot := int(st.Seq % int64(s.cap))
	out := st.Ring[slot*st.C : (slot+1)*st.C]
	if s.cfg.Counter {
		dt := float64(t-st.LastTime) / 1e9
		reset := false
		for k, v := range raw {
			d := v - st.Last[k]
			if d < 0 {
				d, reset = v, true
			}
			out[k] = d / dt
		}
		if reset {
			st.Stats.CounterResets++
		}
	} else {
		copy(out, raw)
	}
	if filled {
		st.Filled[slot/64] |= 1 << (slot % 64)
		st.Stats.GapFilled++
	} else {
		st.Filled[slot/64] &^= 1 << (slot % 64)
		st.Stats.Steps++
		if st.Norm != nil {
			st.Norm.observe(out, s.cfg.NormWarmUp, s.cfg.Norm)
		}
	}
	st.Seq++
	st.Since++
	if st.Lag != nil {
		st.Lag.add(t, out)
	}
	s.sc.meta = append(s.sc.meta, stepMeta{t: t, filled: filled})
	s.setLast(t, idx, raw)
}

func (s *Series) setLast(t, idx int64, raw []float64) {
	st := &s.st
	copy(st.Last, raw)
	st.HasLast, st.LastTime, st.LastIdx = true, t, idx
}

// Step returns the step emitted ago steps before the newest one of the
// last Push or Flush. It panics unless 0 <= ago < Result.Emitted.
func (s *Series) Step(ago int) Step {
	m := s.meta(ago)
	slot := s.slot(ago)
	return Step{
		Time:   time.Unix(0, m.t).UTC(),
		Values: s.st.Ring[slot*s.st.C : (slot+1)*s.st.C],
		Filled: m.filled,
		Ready:  s.st.Since-ago >= s.cfg.Window,
	}
}

func (s *Series) meta(ago int) stepMeta {
	n := len(s.sc.meta)
	if ago < 0 || ago >= n {
		panic("timeseries: step " + strconv.Itoa(ago) + " not emitted by the last push")
	}
	return s.sc.meta[n-1-ago]
}

func (s *Series) slot(ago int) int {
	return int((s.st.Seq - 1 - int64(ago)) % int64(s.cap))
}

// Window copies the newest window, W steps of C values oldest first, into
// dst[:W*C] and reports whether the series was Ready; dst is left alone
// when not. It panics if len(dst) < W*C. It does not allocate.
func (s *Series) Window(dst []float64) bool { return s.WindowAt(dst, 0) }

// WindowAt is Window for the window ending ago steps before the newest
// step; ago may range over the ring's spare room, at least
// [0, Result.Emitted) after a Push. It reports false when fewer than W
// steps since the last restart end there.
func (s *Series) WindowAt(dst []float64, ago int) bool {
	w, c := s.cfg.Window, s.st.C
	if len(dst) < w*c {
		panic("timeseries: window destination shorter than W*C")
	}
	if ago < 0 || ago > s.cap-w || s.st.Since-ago < w {
		return false
	}
	first := int((s.st.Seq - int64(ago+w)) % int64(s.cap))
	n := min(w, s.cap-first)
	copy(dst[:n*c], s.st.Ring[first*c:(first+n)*c])
	copy(dst[n*c:w*c], s.st.Ring[:(w-n)*c])
	return true
}

// FilledAt reports whether the step ago steps before the newest was made
// up by gap filling. It panics unless 0 <= ago < W.
func (s *Series) FilledAt(ago int) bool {
	if ago < 0 || ago >= s.cfg.Window {
		panic("timeseries: filled index out of range")
	}
	if int64(ago) >= s.st.Seq {
		return false
	}
	slot := s.slot(ago)
	return s.st.Filled[slot/64]&(1<<(slot%64)) != 0
}

// ContextAt writes the context features of the step emitted ago steps
// before the newest one of the last Push or Flush into dst[:w], where w is
// Config.ContextWidth(C): the calendar terms, then the C values at each
// lag. A lag whose bucket has no data (the first day of a series, or a
// gap) takes the step's own values, so the model sees "no seasonal change"
// rather than a hole. Lag values are raw: normalise them with the same
// Normaliser as the window. It panics if dst is short or ago is not a step
// of the last call.
func (s *Series) ContextAt(dst []float64, ago int) {
	m := s.meta(ago)
	if len(dst) < s.cfg.ContextWidth(s.st.C) {
		panic("timeseries: context destination too short")
	}
	if s.cfg.Calendar {
		Calendar(dst[:CalendarWidth], m.t, s.cfg.Location)
		dst = dst[CalendarWidth:]
	}
	if len(s.cfg.Lags) == 0 {
		return
	}
	slot := s.slot(ago)
	own := s.st.Ring[slot*s.st.C : (slot+1)*s.st.C]
	for i, l := range s.cfg.Lags {
		s.st.Lag.at(dst[i*s.st.C:(i+1)*s.st.C], m.t-int64(l), own)
	}
}

// Calendar writes the CalendarWidth calendar features of time t (Unix
// nanoseconds) to dst: sin and cos of the hour of day and of the day of week
// (Monday 00:00 = 0) at wall-clock time in loc, nil meaning UTC. Across a
// daylight-saving change the hour follows the wall clock, as human activity
// does. It is exported so that other packages building the same context
// (forecast) cannot drift from the series.
func Calendar(dst []float64, t int64, loc *time.Location) {
	if loc == nil {
		loc = time.UTC
	}
	lt := time.Unix(0, t).In(loc)
	h := float64(lt.Hour()) + float64(lt.Minute())/60 + float64(lt.Second())/3600
	day := float64((int(lt.Weekday())+6)%7) + h/24
	hs, hc := math.Sincos(2 * math.Pi * h / 24)
	ds, dc := math.Sincos(2 * math.Pi * day / 7)
	dst[0], dst[1], dst[2], dst[3] = hs, hc, ds, dc
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func floorMod(a, b int64) int64 { return a - floorDiv(a, b)*b }

func satSub(a, b int64) int64 {
	if a < math.MinInt64+b {
		return math.MinInt64
	}
	return a - b
}

func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

func allFinite(v []float64) bool {
	for _, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}
