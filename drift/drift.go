// Package drift decides when a model group's live stream no longer looks
// like the data its model was calibrated on.
//
// Under a calibrated model the conformal p-values of live points are
// uniform on (0, 1]. A Monitor keeps the last Window p-values and, every
// Every points, compares their empirical distribution with the uniform one by
// the Kolmogorov-Smirnov statistic
//
//	D = sup_x |F_n(x) - x|
//
// against the critical value of the Kolmogorov distribution at level Alpha
// (with Stephens' finite-sample correction). It also watches the share of
// points whose values fall outside the range the model saw in training,
// which catches level shifts that saturate the p-values before the KS test
// has a full window.
//
// The package is plain arithmetic: no clocks, no I/O. Cool-downs and the
// filing of retrain jobs belong to the caller.
package drift

import (
	"fmt"
	"math"
	"slices"
)

// Config sets a Monitor's test. The zero value of a field means its default.
type Config struct {
	// Window is the number of most recent p-values tested (default 1000).
	Window int `json:"window" yaml:"window"`
	// Every is how many new points pass between two tests (default 100).
	Every int `json:"every" yaml:"every"`
	// Alpha is the significance level of each test (default 1e-6). Tests
	// are repeated along the stream, so it is far below the usual 0.05: at
	// one test per 100 points, 1e-6 means about one false drift per 10^8
	// stationary points.
	Alpha float64 `json:"alpha" yaml:"alpha"`
	// MaxOutOfRange is the share of the window outside the training range
	// that counts as drift on its own (default 0.2).
	MaxOutOfRange float64 `json:"max_out_of_range" yaml:"max_out_of_range"`
	// Reference is the number m of calibration scores behind the p-values
	// (0: the score distribution is taken as exactly known). Conformal
	// p-values are uniform only on average over calibration sets; given one
	// set of m scores their distribution is off by a KS distance of order
	// 1/sqrt(m), so the window is tested as a two-sample KS test of n
	// p-values against m scores, whose critical distance is sqrt(1 + n/m)
	// times the one-sample one.
	Reference int `json:"reference" yaml:"reference"`
}

func (c Config) withDefaults() Config {
	if c.Window <= 0 {
		c.Window = 1000
	}
	if c.Every <= 0 {
		c.Every = 100
	}
	if c.Alpha <= 0 || c.Alpha >= 1 {
		c.Alpha = 1e-6
	}
	if c.MaxOutOfRange <= 0 {
		c.MaxOutOfRange = 0.2
	}
	return c
}

// Verdict describes a detected drift.
type Verdict struct {
	Statistic       float64 // KS distance D of the window's p-values
	Threshold       float64 // critical value of D at the configured level
	Window          int     // number of p-values tested
	OutOfRangeShare float64 // share of the window outside the training range
	Reason          string  // "p-values not uniform" or "inputs out of range"
}

func (v Verdict) String() string {
	return fmt.Sprintf("%s: D=%.4f (threshold %.4f) over %d points, %.1f%% out of range",
		v.Reason, v.Statistic, v.Threshold, v.Window, 100*v.OutOfRangeShare)
}

// Monitor tests one model group's live p-values. It is not safe for
// concurrent use.
type Monitor struct {
	cfg       Config
	threshold float64
	p         []float64 // ring of the last Window p-values
	outside   []bool    // ring: was the point out of the training range
	next      int
	full      bool
	nOutside  int
	since     int
	sorted    []float64 // scratch for the test
	last      float64   // statistic of the latest test
	tested    bool      // a test has run since NewMonitor
}

// NewMonitor returns a Monitor for cfg (zero fields take their defaults).
func NewMonitor(cfg Config) *Monitor {
	cfg = cfg.withDefaults()
	threshold := KSCritical(cfg.Window, cfg.Alpha)
	if cfg.Reference > 0 {
		threshold *= math.Sqrt(1 + float64(cfg.Window)/float64(cfg.Reference))
	}
	return &Monitor{
		cfg:       cfg,
		threshold: threshold,
		p:         make([]float64, cfg.Window),
		outside:   make([]bool, cfg.Window),
		sorted:    make([]float64, 0, cfg.Window),
	}
}

// Observe records a live point's p-value and whether its value was outside
// the training range, and reports drift when a test due now fails. After a
// verdict the window is cleared, so the next one needs a full window of new
// evidence.
func (m *Monitor) Observe(p float64, outOfRange bool) (Verdict, bool) {
	if m.outside[m.next] {
		m.nOutside--
	}
	m.p[m.next] = p
	m.outside[m.next] = outOfRange
	if outOfRange {
		m.nOutside++
	}
	m.next++
	if m.next == len(m.p) {
		m.next, m.full = 0, true
	}
	m.since++
	if !m.full || m.since < m.cfg.Every {
		return Verdict{}, false
	}
	m.since = 0

	m.sorted = append(m.sorted[:0], m.p...)
	slices.Sort(m.sorted)
	v := Verdict{
		Statistic:       KSUniform(m.sorted),
		Threshold:       m.threshold,
		Window:          len(m.p),
		OutOfRangeShare: float64(m.nOutside) / float64(len(m.p)),
	}
	m.last, m.tested = v.Statistic, true
	switch {
	case v.Statistic > v.Threshold:
		v.Reason = "p-values not uniform"
	case v.OutOfRangeShare > m.cfg.MaxOutOfRange:
		v.Reason = "inputs out of range"
	default:
		return Verdict{}, false
	}
	m.Reset()
	return v, true
}

// Statistic returns the KS distance of the latest test and false before the
// first one, for a gauge between verdicts.
func (m *Monitor) Statistic() (float64, bool) { return m.last, m.tested }

// Threshold returns the critical KS distance the tests use.
func (m *Monitor) Threshold() float64 { return m.threshold }

// Reset forgets every observed point, as after a model swap.
func (m *Monitor) Reset() {
	clear(m.outside)
	m.next, m.full, m.nOutside, m.since = 0, false, 0, 0
}

// KSUniform returns the Kolmogorov-Smirnov distance between the empirical
// distribution of sorted (ascending, values in [0, 1]) and the uniform
// distribution on [0, 1]:
//
//	D = max_i max(i/n - u_(i), u_(i) - (i-1)/n)
func KSUniform(sorted []float64) float64 {
	n := float64(len(sorted))
	var d float64
	for i, u := range sorted {
		hi := float64(i+1)/n - u
		lo := u - float64(i)/n
		d = max(d, hi, lo)
	}
	return d
}

// KolmogorovSurvival returns P(K > x) for the Kolmogorov distribution, the
// limit law of sqrt(n) D_n:
//
//	P(K > x) = 2 sum_{k>=1} (-1)^(k-1) exp(-2 k^2 x^2)
func KolmogorovSurvival(x float64) float64 {
	if x <= 0 {
		return 1
	}
	if x < 0.2 {
		return 1 // the series converges slowly here and the value is 1 to 1e-9
	}
	var s float64
	for k := 1; k <= 100; k++ {
		term := math.Exp(-2 * float64(k*k) * x * x)
		if k%2 == 1 {
			s += term
		} else {
			s -= term
		}
		if term < 1e-17 {
			break
		}
	}
	return min(1, max(0, 2*s))
}

// KSCritical returns the value of D_n exceeded with probability alpha by n
// uniform points. It inverts the Kolmogorov distribution by bisection and
// applies Stephens' correction, which makes the asymptotic law accurate from
// n of about 5 (M. A. Stephens, "Use of the Kolmogorov-Smirnov, Cramer-von
// Mises and related statistics without extensive tables", JRSS B 32, 1970):
//
//	P(D_n (sqrt(n) + 0.12 + 0.11/sqrt(n)) > x) ~ P(K > x)
func KSCritical(n int, alpha float64) float64 {
	lo, hi := 0.2, 10.0
	for range 200 {
		mid := (lo + hi) / 2
		if KolmogorovSurvival(mid) > alpha {
			lo = mid
		} else {
			hi = mid
		}
	}
	rn := math.Sqrt(float64(n))
	return (lo + hi) / 2 / (rn + 0.12 + 0.11/rn)
}
