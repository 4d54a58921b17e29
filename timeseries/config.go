package timeseries

import (
	"errors"
	"fmt"
	"time"
)

// Aggregation combines the samples that fall into one grid step.
type Aggregation uint8

// Aggregations. AggMean is the zero value.
const (
	AggMean Aggregation = iota
	AggLast             // the sample with the newest timestamp; ties go to the later arrival
	AggSum
	AggMax
)

// FillMethod says how missing steps inside a short gap are filled.
type FillMethod uint8

// Fill methods. FillCarry is the zero value.
const (
	FillCarry  FillMethod = iota // repeat the last step before the gap
	FillLinear                   // interpolate between the steps around the gap
)

// Config describes the per-series state. All series of a Partition share
// one Config. Durations are in event time, that is sample timestamps.
type Config struct {
	// Step is the grid spacing. Zero selects the "as it comes" mode for
	// already regular data: every sample is a step at its own time, a
	// timestamp equal to the previous one is rejected as a duplicate and an
	// older one as too late; there is no gap filling and no lateness. Steps
	// are aligned to the Unix epoch, so a Step dividing a day aligns to
	// midnight UTC.
	Step time.Duration
	// Aggregation combines samples inside one step. Default AggMean.
	Aggregation Aggregation
	// Window is W, the number of steps in a window; at least 1.
	Window int
	// Channels is C, the number of values per sample. Zero lets a
	// Partition take it from the first sample of each series.
	Channels int
	// MaxFill is the longest run of missing steps that is filled; a longer
	// gap restarts the window. Zero fills nothing.
	MaxFill int
	// Fill says how filled steps get their values.
	Fill FillMethod
	// Lateness is how far behind the newest sample time a sample may be
	// and still update its step. A step is final, and emitted, once the
	// newest sample time minus Lateness has passed its end. Zero emits a
	// step when the first sample of a later step arrives.
	Lateness time.Duration
	// Counter marks the inputs as monotonic counters that may reset to
	// zero (Prometheus counters). Steps then carry the per-second rate
	// against the previous step; a decrease counts as a reset and the new
	// value is taken as the increase, as Prometheus' rate does. The first
	// step only sets the baseline and is not emitted. Use AggLast and
	// FillLinear with counters.
	Counter bool

	// Calendar adds four context features: sine and cosine of the hour of
	// day and of the day of week, in Location.
	Calendar bool
	// Location is the time zone of the calendar features. Nil means UTC.
	Location *time.Location
	// Lags are the seasonal lags (such as 24h and 168h) whose past values
	// are context features. Each must be a positive multiple of
	// LagResolution.
	Lags []time.Duration
	// LagResolution is the bucket width of the lag history: the value at
	// a lag is the mean of the steps in the bucket that held that time.
	// Zero means Step. A coarser resolution keeps less memory: a one-day
	// lag at one-minute steps costs 1,440 float64 per channel at 1m and 96
	// at 15m.
	LagResolution time.Duration

	// IdleAfter is the event-time silence after which Partition.Evict
	// drops a series. Zero never evicts.
	IdleAfter time.Duration

	// NormWarmUp is the number of observed (not filled) steps after which
	// a series fits its own robust normaliser, for series that have no
	// trained one. Zero turns this off.
	NormWarmUp int
	// Norm sets the scale floors of that fit.
	Norm NormConfig
}

// Validate reports the first inconsistency in c.
func (c *Config) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("timeseries: config: "+format, a...)
	}
	switch {
	case c.Step < 0:
		return bad("negative step %v", c.Step)
	case c.Window < 1:
		return bad("window %d < 1", c.Window)
	case c.Channels < 0:
		return bad("negative channels")
	case c.MaxFill < 0:
		return bad("negative max fill")
	case c.Lateness < 0:
		return bad("negative lateness")
	case c.Aggregation > AggMax:
		return bad("unknown aggregation %d", c.Aggregation)
	case c.Fill > FillLinear:
		return bad("unknown fill %d", c.Fill)
	case c.NormWarmUp < 0:
		return bad("negative norm warm-up")
	}
	if c.Step == 0 && (c.MaxFill > 0 || c.Lateness > 0) {
		return errors.New("timeseries: config: fill and lateness need a step")
	}
	if len(c.Lags) == 0 {
		return nil
	}
	res := c.lagResolution()
	if res <= 0 {
		return bad("lags need a step or a lag resolution")
	}
	if c.Step > 0 && res%c.Step != 0 {
		return bad("lag resolution %v is not a multiple of step %v", res, c.Step)
	}
	for _, l := range c.Lags {
		if l <= 0 || l%res != 0 {
			return bad("lag %v is not a positive multiple of %v", l, res)
		}
	}
	return nil
}

func (c *Config) lagResolution() time.Duration {
	if c.LagResolution > 0 {
		return c.LagResolution
	}
	return c.Step
}

// CalendarWidth is the number of calendar features when Config.Calendar is
// set.
const CalendarWidth = 4

// ContextWidth is the length of the context vector ContextAt writes for a
// series of the given channels: CalendarWidth if Calendar is set, then
// channels values per lag.
func (c *Config) ContextWidth(channels int) int {
	n := len(c.Lags) * channels
	if c.Calendar {
		n += CalendarWidth
	}
	return n
}

// openSlots is the number of steps that can be open at once: those within
// Lateness of the newest sample, plus its own.
func (c *Config) openSlots() int {
	if c.Step == 0 {
		return 1
	}
	return int((c.Lateness+c.Step-1)/c.Step) + 1
}

// maxEmit bounds the steps one Push or Flush emits: each finalised open
// step may come after a filled gap.
func (c *Config) maxEmit() int { return c.openSlots() * (c.MaxFill + 1) }

// fingerprint names the settings a snapshot depends on.
func (c *Config) fingerprint() string {
	return fmt.Sprintf("step=%d agg=%d w=%d c=%d fill=%d/%d late=%d ctr=%t lags=%v/%d warm=%d",
		c.Step, c.Aggregation, c.Window, c.Channels, c.MaxFill, c.Fill, c.Lateness,
		c.Counter, c.Lags, c.lagResolution(), c.NormWarmUp)
}
