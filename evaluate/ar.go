package evaluate

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/flowguard/flowguard/scorer"
	"github.com/flowguard/flowguard/timeseries"
)

// ARFitter fits a Gaussian autoregression of the newest step of a window
// on the earlier steps and the context, by ridge-regularised least squares:
//
//	x_t = a . x_{t-W+1..t-1} + b . context + c + e,   e ~ N(0, sigma^2).
//
// This is exactly the conditional a single affine autoregressive flow layer
// with a linear conditioner computes, so it is the baseline the flow models
// must beat. The point score is 0.5 (e/sigma)^2 + ln sigma. Calibration
// scores are leave-one-out residuals, exact for least squares:
// e_i / (1 - h_ii), with h_ii the leverage of row i.
type ARFitter struct {
	// Ridge is the penalty on the coefficients, relative to the number of
	// rows (default 1e-3). The intercept is not penalised.
	Ridge float64
	// MinSigma is the floor of the residual scale, in normalised units
	// (default 1e-3), so a noise-free series does not turn a rounding
	// error into an alarm.
	MinSigma float64
}

var _ Fitter = ARFitter{}

type arModel struct {
	coef  []float64 // W-1 window terms, then context terms, then intercept
	sigma float64
	cal   *scorer.Calibration
	norm  timeseries.Normaliser
	lagAt int // where lag values start in a context vector
	x, c  []float64
}

func (t ARFitter) withDefaults() ARFitter {
	if t.Ridge <= 0 {
		t.Ridge = 1e-3
	}
	if t.MinSigma <= 0 {
		t.MinSigma = 1e-3
	}
	return t
}

// Fit implements Fitter.
func (t ARFitter) Fit(_ context.Context, samples []timeseries.Sample, f scorer.Features,
	exclude func(time.Time) bool) (Model, error) {
	t = t.withDefaults()
	var ex func(timeseries.SeriesID, time.Time) bool
	if exclude != nil {
		ex = func(_ timeseries.SeriesID, t time.Time) bool { return exclude(t) }
	}
	all, _, err := f.Build([][]timeseries.Sample{samples}, ex)
	if err != nil {
		return nil, err
	}
	d := dataset{X: all.X, C: all.Context, Rows: all.Len(), Window: f.Window,
		Context: f.ContextWidth()}
	if d.Rows < 20 {
		return nil, errors.New("evaluate: ar: too few windows")
	}
	last := make([]float64, d.Rows)
	for i := range last {
		last[i] = d.X[(i+1)*d.Window-1]
	}
	norm, err := timeseries.FitNormaliser(last, 1, timeseries.NormConfig{})
	if err != nil {
		return nil, err
	}
	lagAt := 0
	if f.Calendar {
		lagAt = timeseries.CalendarWidth
	}
	norm.Apply(d.X)
	for i := range d.Rows {
		if d.Context > lagAt {
			norm.Apply(d.C[i*d.Context+lagAt : (i+1)*d.Context])
		}
	}
	m, err := t.train(d)
	if err != nil {
		return nil, err
	}
	m.norm, m.lagAt = norm, lagAt
	return m, nil
}

// dataset is a batch of normalised windows and context vectors.
type dataset struct {
	X, C            []float64
	Rows            int
	Window, Context int
}

func (t ARFitter) train(d dataset) (*arModel, error) {
	p := d.Window - 1 + d.Context + 1
	if d.Rows < 2*p || d.Rows < 20 {
		return nil, errors.New("evaluate: ar: too few rows for the model")
	}
	row := make([]float64, p)
	xtx := make([]float64, p*p)
	xty := make([]float64, p)
	for i := range d.Rows {
		y := features(row, d, i)
		for a := range p {
			xty[a] += row[a] * y
			for b := range p {
				xtx[a*p+b] += row[a] * row[b]
			}
		}
	}
	lambda := t.Ridge * float64(d.Rows)
	for a := range p - 1 {
		xtx[a*p+a] += lambda
	}
	xtx[p*p-1] += 1e-9 * float64(d.Rows)
	chol, err := cholesky(xtx, p)
	if err != nil {
		return nil, err
	}
	coef := cholSolve(chol, p, xty)

	m := &arModel{coef: coef}
	calib := make([]float64, d.Rows)
	loo := make([]float64, d.Rows)
	tmp := make([]float64, p)
	ss := 0.0
	for i := range d.Rows {
		y := features(row, d, i)
		e := y - dot(coef, row)
		ss += e * e
		copy(tmp, row)
		h := dot(row, cholSolve(chol, p, tmp))
		loo[i] = e / max(1-h, 1e-6)
	}
	m.sigma = max(math.Sqrt(ss/float64(d.Rows)), t.MinSigma)
	for i, e := range loo {
		calib[i] = m.score(e)
	}
	m.cal, err = scorer.NewCalibration(calib)
	return m, err
}

// features writes the regressors of row i into dst and returns its target.
func features(dst []float64, d dataset, i int) float64 {
	w := d.X[i*d.Window : (i+1)*d.Window]
	n := copy(dst, w[:d.Window-1])
	n += copy(dst[n:], d.C[i*d.Context:(i+1)*d.Context])
	dst[n] = 1
	return w[d.Window-1]
}

func (m *arModel) score(e float64) float64 {
	z := e / m.sigma
	return 0.5*z*z + math.Log(m.sigma)
}

// Score implements Model. The baseline has no level test.
func (m *arModel) Score(window, ctx []float64) (Verdict, error) {
	m.x = append(m.x[:0], window...)
	m.c = append(m.c[:0], ctx...)
	m.norm.Apply(m.x)
	if len(m.c) > m.lagAt {
		m.norm.Apply(m.c[m.lagAt:])
	}
	s := m.scoreNormalised(m.x, m.c)
	u := m.cal.Surprise(s)
	m.cal.Add(s)
	return Verdict{Surprise: u, PointP: math.Exp(-u)}, nil
}

// Learn implements Model.
func (m *arModel) Learn(limit int) { m.cal.Learn(limit) }

func (m *arModel) scoreNormalised(window, ctx []float64) float64 {
	w := len(window)
	pred := m.coef[len(m.coef)-1]
	for i, v := range window[:w-1] {
		pred += m.coef[i] * v
	}
	for i, v := range ctx {
		pred += m.coef[w-1+i] * v
	}
	return m.score(window[w-1] - pred)
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

// cholesky returns the lower factor L of the symmetric positive definite
// p x p matrix a (row-major), a = L L^T.
func cholesky(a []float64, p int) ([]float64, error) {
	l := make([]float64, p*p)
	for i := range p {
		for j := 0; j <= i; j++ {
			s := a[i*p+j]
			for k := range j {
				s -= l[i*p+k] * l[j*p+k]
			}
			if i == j {
				if s <= 0 || math.IsNaN(s) {
					return nil, errors.New("evaluate: ar: normal equations not positive definite")
				}
				l[i*p+i] = math.Sqrt(s)
				continue
			}
			l[i*p+j] = s / l[j*p+j]
		}
	}
	return l, nil
}

// cholSolve solves L L^T x = b in place in b and returns it.
func cholSolve(l []float64, p int, b []float64) []float64 {
	for i := range p {
		s := b[i]
		for k := range i {
			s -= l[i*p+k] * b[k]
		}
		b[i] = s / l[i*p+i]
	}
	for i := p - 1; i >= 0; i-- {
		s := b[i]
		for k := i + 1; k < p; k++ {
			s -= l[k*p+i] * b[k]
		}
		b[i] = s / l[i*p+i]
	}
	return b
}
