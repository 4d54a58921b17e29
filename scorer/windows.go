package scorer

import (
	"fmt"
	"slices"
	"time"

	"github.com/flowguard/flowguard/timeseries"
)

// Windows is a batch of raw windows with their context vectors, in the
// layout Model.Score takes, and where each window ends.
type Windows struct {
	// X holds the windows, W*C raw values each, time-major.
	X []float64
	// Context holds one raw context vector per window.
	Context []float64
	// Time is the time of each window's newest step.
	Time []time.Time
	// Series is the index, into the input of Build, of each window's
	// series.
	Series []int
}

// Len returns the number of windows.
func (w *Windows) Len() int { return len(w.Time) }

// Build turns series of samples (each slice one series, in time order)
// into the windows and context vectors a detector with these features
// sees online, one window ending at every observed step that has a full
// window behind it. Windows ending on a gap-filled step are left out, as
// the detector does not score those. If exclude is not nil, every step for
// which it reports true is counted and every window holding one is left
// out; the count is returned. Samples the grid refuses (too late,
// duplicates) are skipped, as online.
func (f Features) Build(series [][]timeseries.Sample,
	exclude func(id timeseries.SeriesID, t time.Time) bool) (Windows, int, error) {
	return f.build(series, exclude, 0)
}

// build is Build that also leaves out the windows whose newest step comes
// less than need after the first step of its series, the ones whose lag
// values are not yet history.
func (f Features) build(series [][]timeseries.Sample,
	exclude func(id timeseries.SeriesID, t time.Time) bool,
	need time.Duration) (Windows, int, error) {
	cfg, err := f.SeriesConfig()
	if err != nil {
		return Windows{}, 0, err
	}
	b := builder{f: f, exclude: exclude, need: need,
		win: make([]float64, f.Window*f.Channels), ctx: make([]float64, f.ContextWidth())}
	for i, ss := range series {
		if len(ss) == 0 {
			continue
		}
		if err := b.series(i, ss, cfg); err != nil {
			return Windows{}, 0, err
		}
	}
	return b.out, b.excluded, nil
}

// builder accumulates windows across series.
type builder struct {
	f        Features
	exclude  func(timeseries.SeriesID, time.Time) bool
	out      Windows
	excluded int
	win, ctx []float64
	// need is the history a window needs behind it (build), and start
	// the time from which the current series has it.
	need  time.Duration
	start time.Time
	// bad holds, for the current series, the sequence numbers of excluded
	// steps still inside the newest window.
	bad []int
	seq int
	// refused, if not nil, is told of every sample the grid refuses, by
	// series and sample index (Unwindowed).
	refused func(series, sample int)
}

func (b *builder) series(idx int, ss []timeseries.Sample, cfg timeseries.Config) error {
	s, err := timeseries.NewSeries(ss[0].Series, cfg, len(ss[0].Values))
	if err != nil {
		return fmt.Errorf("scorer: build windows: %w", err)
	}
	b.bad, b.seq = b.bad[:0], 0
	for i := range ss {
		if len(ss[i].Values) != b.f.Channels {
			return fmt.Errorf("scorer: build windows: series %s has %d channels, want %d",
				ss[i].Series.Key(), len(ss[i].Values), b.f.Channels)
		}
		res := s.Push(&ss[i])
		if res.Reason != timeseries.ReasonNone && b.refused != nil {
			b.refused(idx, i)
		}
		b.take(idx, s, res.Emitted)
	}
	b.take(idx, s, s.Flush().Emitted)
	return nil
}

// take collects the windows ending at the steps the last Push emitted,
// oldest first.
func (b *builder) take(idx int, s *timeseries.Series, emitted int) {
	w := b.f.Window
	for ago := emitted - 1; ago >= 0; ago-- {
		st := s.Step(ago)
		seq := b.seq
		b.seq++
		if seq == 0 {
			b.start = st.Time.Add(b.need)
		}
		if !st.Filled && b.exclude != nil && b.exclude(s.ID(), st.Time) {
			b.excluded++
			b.bad = append(b.bad, seq)
		}
		// Forget excluded steps that have left the window.
		b.bad = slices.DeleteFunc(b.bad, func(q int) bool { return q <= seq-w })
		if st.Filled || !st.Ready || len(b.bad) > 0 || st.Time.Before(b.start) ||
			!s.WindowAt(b.win, ago) {
			continue
		}
		s.ContextAt(b.ctx, ago)
		b.out.X = append(b.out.X, b.win...)
		b.out.Context = append(b.out.Context, b.ctx...)
		b.out.Time = append(b.out.Time, st.Time)
		b.out.Series = append(b.out.Series, idx)
	}
}
