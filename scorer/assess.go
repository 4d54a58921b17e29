package scorer

import (
	"math"
	"slices"
	"time"
)

// Assessment summarises how a model fits held-out windows, for choosing
// between a candidate and the current champion on the same data.
type Assessment struct {
	// Windows is the number of windows assessed.
	Windows int `json:"windows"`
	// MeanScore is the mean point score in nats of the raw values (the
	// normalised score plus Meta.LogScale), so models with different
	// normalisers compare. Each score counts at most maxAssessScore, so
	// one absurd point cannot decide.
	MeanScore float64 `json:"mean_score"`
	// KS is sup_u |F(u) - u| of the windows' p-values: 0 for perfect
	// calibration.
	KS float64 `json:"ks"`
	// FlagRate is the share of p-values below 0.01.
	FlagRate float64 `json:"flag_rate"`
}

// maxAssessScore caps a single point score in MeanScore.
const maxAssessScore = 1e3

// Assess scores w (raw windows built with this model's Features) and
// summarises the result. It uses the model's buffers like Score.
func (m *Model) Assess(w Windows) (Assessment, error) {
	var sc Scores
	if err := m.Score(&sc, w.X, w.Context); err != nil {
		return Assessment{}, err
	}
	a := Assessment{Windows: len(sc.Score)}
	if a.Windows == 0 {
		return a, nil
	}
	shift := m.meta.LogScale()
	var flagged int
	for i, s := range sc.Score {
		a.MeanScore += min(s+shift, maxAssessScore)
		if sc.P[i] < 0.01 {
			flagged++
		}
	}
	n := float64(a.Windows)
	a.MeanScore /= n
	a.FlagRate = float64(flagged) / n
	ps := slices.Clone(sc.PointP)
	slices.Sort(ps)
	for i, p := range ps {
		a.KS = max(a.KS, math.Abs(float64(i+1)/n-p), math.Abs(p-float64(i)/n))
	}
	return a, nil
}

// Between returns the windows whose newest step is in [from, to], copied.
func (w *Windows) Between(from, to time.Time) Windows {
	n := w.Len()
	if n == 0 {
		return Windows{}
	}
	d, cw := len(w.X)/n, len(w.Context)/n
	var out Windows
	for i, t := range w.Time {
		if t.Before(from) || t.After(to) {
			continue
		}
		out.X = append(out.X, w.X[i*d:(i+1)*d]...)
		out.Context = append(out.Context, w.Context[i*cw:(i+1)*cw]...)
		out.Time = append(out.Time, t)
		out.Series = append(out.Series, w.Series[i])
	}
	return out
}
