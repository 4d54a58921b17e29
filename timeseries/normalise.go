package timeseries

import (
	"errors"
	"math"
	"slices"
)

// Consistency factors that make robust scales estimate the standard
// deviation of a normal distribution: 1/Φ⁻¹(3/4) for the MAD and
// sqrt(π/2) for the mean absolute deviation (Huber, Robust Statistics,
// 2nd ed., 2009, sec. 5.1).
const (
	madToSigma    = 1.482602218505602
	meanADToSigma = 1.2533141373155003
)

// NormConfig sets the floors of a robust scale fit.
type NormConfig struct {
	// Floor is the smallest scale, absolute. Zero means 1e-9.
	Floor float64
	// RelFloor is the smallest scale relative to |location|, so a
	// near-constant series around 1e6 is not blown up by rounding noise.
	// Zero means 1e-6.
	RelFloor float64
}

func (c NormConfig) floors() (abs, rel float64) {
	abs, rel = c.Floor, c.RelFloor
	if abs <= 0 {
		abs = 1e-9
	}
	if rel <= 0 {
		rel = 1e-6
	}
	return abs, rel
}

// Normaliser maps each channel to (x - Loc) / Scale. It is a plain value,
// JSON-serialisable, so a trainer can store it with a model.
type Normaliser struct {
	// Loc is the per-channel location (median).
	Loc []float64 `json:"loc"`
	// Scale is the per-channel scale, always > 0.
	Scale []float64 `json:"scale"`
}

// FitNormaliser fits a robust normaliser to x, rows of channels values
// flattened in time order (as windows are). Per channel, Loc is the median
// and Scale is 1.4826 * MAD; when more than half the values are equal the
// MAD is 0 and the scale falls back to 1.2533 * the mean absolute
// deviation from the median; last, the scale is raised to the floors of
// cfg, so a constant channel gets Scale = max(Floor, RelFloor*|Loc|).
// It fails if x is empty, not a multiple of channels, or not finite.
func FitNormaliser(x []float64, channels int, cfg NormConfig) (Normaliser, error) {
	if channels < 1 || len(x) == 0 || len(x)%channels != 0 {
		return Normaliser{}, errors.New("timeseries: fit normaliser: need whole rows of channels")
	}
	n := len(x) / channels
	col := make([]float64, n)
	dev := make([]float64, n)
	out := Normaliser{Loc: make([]float64, channels), Scale: make([]float64, channels)}
	abs, rel := cfg.floors()
	for c := range channels {
		for i := range n {
			v := x[i*channels+c]
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return Normaliser{}, errors.New("timeseries: fit normaliser: non-finite value")
			}
			col[i] = v
		}
		med := median(col)
		sumDev := 0.0
		for i, v := range col {
			dev[i] = math.Abs(v - med)
			sumDev += dev[i]
		}
		scale := madToSigma * median(dev)
		if scale == 0 {
			scale = meanADToSigma * sumDev / float64(n)
		}
		out.Loc[c] = med
		out.Scale[c] = max(scale, abs, rel*math.Abs(med))
	}
	return out, nil
}

// median sorts v in place and returns its median.
func median(v []float64) float64 {
	slices.Sort(v)
	m := len(v) / 2
	if len(v)%2 == 1 {
		return v[m]
	}
	return v[m-1] + (v[m]-v[m-1])/2
}

// Channels is the number of channels n was fitted for.
func (n Normaliser) Channels() int { return len(n.Loc) }

// Apply normalises x in place: x is whole rows of Channels values, such as
// a window or the lag part of a context vector. It panics if len(x) is not
// a multiple of Channels.
func (n Normaliser) Apply(x []float64) {
	c := len(n.Loc)
	if c == 0 || len(x)%c != 0 {
		panic("timeseries: normaliser: length not a multiple of channels")
	}
	for i := range x {
		k := i % c
		x[i] = (x[i] - n.Loc[k]) / n.Scale[k]
	}
}

// Invert undoes Apply in place, for forecasts in the original units. It
// panics like Apply.
func (n Normaliser) Invert(x []float64) {
	c := len(n.Loc)
	if c == 0 || len(x)%c != 0 {
		panic("timeseries: normaliser: length not a multiple of channels")
	}
	for i := range x {
		k := i % c
		x[i] = x[i]*n.Scale[k] + n.Loc[k]
	}
}

// onlineNorm collects the first warm-up steps of a series, then fits once
// and drops the buffer. Kept frozen on purpose: a location that follows the
// data would hide a level shift from the detector.
type onlineNorm struct {
	Buf  []float64
	Norm Normaliser
	Done bool
}

func (o *onlineNorm) observe(v []float64, warmUp int, cfg NormConfig) {
	if o.Done {
		return
	}
	if o.Buf == nil {
		o.Buf = make([]float64, 0, warmUp*len(v))
	}
	o.Buf = append(o.Buf, v...)
	if len(o.Buf) < warmUp*len(v) {
		return
	}
	// Values were checked finite on the way in, so the fit cannot fail.
	o.Norm, _ = FitNormaliser(o.Buf, len(v), cfg)
	o.Buf, o.Done = nil, true
}
