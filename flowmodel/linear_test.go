package flowmodel

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// arContext returns AR(2) windows of width w with one context value per
// window that enters the newest value linearly (coefficient 0.5), so the
// regressions have a context coefficient to find.
func arContext(rng *rand.Rand, n, w int) (x, c []float64) {
	x = windows(arSeries(rng, n+w-1), w)
	c = normals(rng, n)
	for i := range n {
		x[i*w+w-1] += 0.5 * c[i]
	}
	return x, c
}

// ridgeRef is the closed-form ridge regression of coordinate i on the
// context and the coordinates before it, computed with gonum from the
// definition FitLinearBase documents: it returns the prediction function and
// the floored root mean squared residual.
func ridgeRef(x, c []float64, d, nc, i int, ridge float64) (func(x, c []float64) float64,
	float64) {
	rows := len(x) / d
	p := nc + i
	z := mat.NewDense(rows, max(p, 1), nil)
	y := mat.NewVecDense(rows, nil)
	var scale2 float64
	for j := range d {
		var m, m2 float64
		for n := range rows {
			m += x[n*d+j]
		}
		m /= float64(rows)
		for n := range rows {
			m2 += (x[n*d+j] - m) * (x[n*d+j] - m)
		}
		scale2 += m2 / float64(rows)
	}
	scale2 /= float64(d)
	mean := make([]float64, p+1)
	for n := range rows {
		for k := range nc {
			mean[k] += c[n*nc+k] / float64(rows)
		}
		for j := range i {
			mean[nc+j] += x[n*d+j] / float64(rows)
		}
		mean[p] += x[n*d+i] / float64(rows)
	}
	for n := range rows {
		for k := range nc {
			z.Set(n, k, c[n*nc+k]-mean[k])
		}
		for j := range i {
			z.Set(n, nc+j, x[n*d+j]-mean[nc+j])
		}
		y.SetVec(n, x[n*d+i]-mean[p])
	}
	beta := make([]float64, p)
	if p > 0 {
		var a mat.Dense
		a.Mul(z.T(), z)
		a.Scale(1/float64(rows), &a)
		for k := range p {
			a.Set(k, k, a.At(k, k)+ridge*scale2)
		}
		var rhs, sol mat.VecDense
		rhs.MulVec(z.T(), y)
		rhs.ScaleVec(1/float64(rows), &rhs)
		if err := sol.SolveVec(&a, &rhs); err != nil {
			panic(err)
		}
		for k := range p {
			beta[k] = sol.AtVec(k)
		}
	}
	pred := func(xr, cr []float64) float64 {
		s := mean[p]
		for k := range nc {
			s += beta[k] * (cr[k] - mean[k])
		}
		for j := range i {
			s += beta[nc+j] * (xr[j] - mean[nc+j])
		}
		return s
	}
	var ss float64
	for n := range rows {
		e := x[n*d+i] - pred(x[n*d:n*d+d], c[n*nc:n*nc+nc])
		ss += e * e
	}
	return pred, math.Max(math.Sqrt(ss/float64(rows)), 1e-3*math.Sqrt(scale2))
}

// TestLinearBaseIsRidgeAR: a new flow with a linear base fitted to AR(2)
// windows (with a context term) is exactly the ridge autoregression: every
// step term is the Gaussian conditional log-density of the closed-form ridge
// fit to 1e-9, and the last step's mean NLL on 100000 fresh windows is within
// 0.01 nats of the true conditional entropy (sampling standard error 0.0022).
func TestLinearBaseIsRidgeAR(t *testing.T) {
	const w, rows, ridge = 5, 20000, 0.05
	rng := rand.New(rand.NewPCG(31, 1))
	x, c := arContext(rng, rows, w)
	f := mustNew(t, Spec{Window: w, Context: 1, Hidden: 8, Layers: 2, LinearBase: true}, 3)
	if err := FitLinearBase(f, Data{X: x, Context: c}, ridge); err != nil {
		t.Fatal(err)
	}
	tx, tc := arContext(rng, 2000, w)
	steps, err := f.StepLogProb(nil, tx, tc)
	if err != nil {
		t.Fatal(err)
	}
	for i := range w {
		pred, sd := ridgeRef(x, c, w, 1, i, ridge)
		for n := range 2000 {
			e := (tx[n*w+i] - pred(tx[n*w:n*w+w], tc[n:n+1])) / sd
			want := -0.5*e*e - math.Log(sd) - logSqrt2Pi
			if got := steps[n*w+i]; math.Abs(got-want) > 1e-9 {
				t.Fatalf("step %d window %d: log p %.12f, ridge conditional %.12f",
					i, n, got, want)
			}
		}
	}

	const fresh = 100000
	fx, fc := arContext(rng, fresh, w)
	steps, err = f.StepLogProb(nil, fx, fc)
	if err != nil {
		t.Fatal(err)
	}
	var nllLast float64
	for n := range fresh {
		nllLast -= steps[n*w+w-1]
	}
	nllLast /= fresh
	entropy := 0.5*math.Log(2*math.Pi*math.E) + math.Log(arSigma)
	t.Logf("last-step NLL %.4f, entropy %.4f", nllLast, entropy)
	if math.Abs(nllLast-entropy) > 0.01 {
		t.Errorf("last-step NLL %.4f is %.4f from the entropy %.4f", nllLast,
			nllLast-entropy, entropy)
	}
}

// TestLinearBaseIdentity: an unfitted base and the zeroed layers New gives
// over it make the flow the standard normal, bit for bit.
func TestLinearBaseIdentity(t *testing.T) {
	f := mustNew(t, Spec{Window: 4, Hidden: 8, Layers: 3, LinearBase: true}, 1)
	checkStandardNormal(t, f)
}

// TestLinearBaseFrozen: Train fits the base once, exactly as FitLinearBase
// with the default ridge does, never changes it (not even by weight decay),
// and, starting from the linear model, ends no worse than it on the
// validation data.
func TestLinearBaseFrozen(t *testing.T) {
	const w = 4
	rng := rand.New(rand.NewPCG(32, 1))
	trainX := windows(arSeries(rng, 600), w)
	validX := windows(arSeries(rng, 200), w)
	f := mustNew(t, Spec{Window: w, Hidden: 8, Layers: 2, LinearBase: true}, 5)
	lin := f.Clone()
	if err := FitLinearBase(lin, Data{X: trainX}, DefaultLinearRidge); err != nil {
		t.Fatal(err)
	}
	linValid := nll(lin, validX, nil)
	before := append([]float64(nil), f.theta[f.numFrozen():]...)
	rep, err := Train(context.Background(), f, Data{X: trainX}, Data{X: validX},
		TrainOptions{Epochs: 30, BatchSize: 32, LearningRate: 3e-3, WeightDecay: 0.5,
			Patience: 30, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("report %+v; linear model valid NLL %.6f", rep, linValid)
	if !f.linFit {
		t.Error("Train did not mark the base as fitted")
	}
	for i := range f.numFrozen() {
		if math.Float64bits(f.theta[i]) != math.Float64bits(lin.theta[i]) {
			t.Fatalf("base parameter %d is %v after Train, fitted %v", i, f.theta[i],
				lin.theta[i])
		}
	}
	if !(rep.BestValidNLL <= linValid) {
		t.Errorf("best validation NLL %v worse than the linear model's %v",
			rep.BestValidNLL, linValid)
	}
	changed := false
	for i, v := range f.theta[f.numFrozen():] {
		changed = changed || v != before[i]
	}
	if rep.BestEpoch > 0 && !changed {
		t.Errorf("best epoch %d but the layers did not change", rep.BestEpoch)
	}
	// A second Train leaves the fitted base alone.
	if _, err := Train(context.Background(), f, Data{X: validX}, Data{},
		TrainOptions{Epochs: 1, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	for i := range f.numFrozen() {
		if f.theta[i] != lin.theta[i] {
			t.Fatalf("second Train changed base parameter %d", i)
		}
	}
}

// TestLinearBaseSamples: conditional samples of the newest step of a flow
// that is only its fitted base have the base's conditional mean and
// standard deviation, within 4 standard errors.
func TestLinearBaseSamples(t *testing.T) {
	const w, ns = 4, 20000
	rng := rand.New(rand.NewPCG(33, 1))
	x, c := arContext(rng, 3000, w)
	f := mustNew(t, Spec{Window: w, Context: 1, Hidden: 8, Layers: 2, LinearBase: true}, 5)
	if err := FitLinearBase(f, Data{X: x, Context: c}, DefaultLinearRidge); err != nil {
		t.Fatal(err)
	}
	pre := []float64{0.7, -0.2, 1.1}
	ctx := []float64{-0.8}
	prefix := make([]float64, 0, ns*(w-1))
	cc := make([]float64, 0, ns)
	for range ns {
		prefix = append(prefix, pre...)
		cc = append(cc, ctx...)
	}
	dst := make([]float64, ns*w)
	if _, err := f.SampleSuffix(dst, prefix, 1, cc, rand.New(rand.NewPCG(4, 4))); err != nil {
		t.Fatal(err)
	}
	var m1, m2 float64
	for n := range ns {
		v := dst[n*w+w-1]
		m1 += v
		m2 += v * v
	}
	m1 /= ns
	sd := math.Sqrt(m2/ns - m1*m1)
	wantMean := f.lin.predict(w-1, append(pre, 0), ctx)
	wantSD := math.Exp(f.lin.logd[w-1])
	t.Logf("mean %.4f (want %.4f), sd %.4f (want %.4f)", m1, wantMean, sd, wantSD)
	if math.Abs(m1-wantMean) > 4*wantSD/math.Sqrt(ns) ||
		math.Abs(sd-wantSD) > 4*wantSD/math.Sqrt(2*ns) {
		t.Errorf("conditional samples: mean %.4f sd %.4f, want %.4f and %.4f", m1, sd,
			wantMean, wantSD)
	}
}

// TestLinearBaseNoiseFree: on a noise-free sine the residual scales are
// floored at 1e-3 of the data's scale, so scores stay finite, and the
// fitting rejects what it cannot do.
func TestLinearBaseNoiseFree(t *testing.T) {
	const w = 6
	s := make([]float64, 400)
	for i := range s {
		s[i] = 3 * math.Sin(0.3*float64(i))
	}
	x := windows(s, w)
	f := mustNew(t, Spec{Window: w, Hidden: 8, Layers: 1, LinearBase: true}, 1)
	if err := FitLinearBase(f, Data{X: x}, 1e-9); err != nil {
		t.Fatal(err)
	}
	floor := math.Log(1e-3 * 3 / math.Sqrt2 * 0.99)
	for i, ld := range f.lin.logd {
		if ld < floor {
			t.Errorf("coordinate %d: log scale %v below the floor %v", i, ld, floor)
		}
	}
	if ld := f.lin.logd[w-1]; ld > floor+0.1 {
		t.Errorf("an exact AR(2) left log scale %v, want the floor %v", ld, floor)
	}
	if _, err := f.LogProb(nil, x, nil); err != nil {
		t.Error(err)
	}
	if err := FitLinearBase(f, Data{X: x}, -1); err == nil {
		t.Error("negative ridge accepted")
	}
	g := mustNew(t, Spec{Window: w, Hidden: 8, Layers: 1}, 1)
	if err := FitLinearBase(g, Data{X: x}, 1); err == nil {
		t.Error("a flow without a base accepted a fit")
	}
}

// TestLinearBaseFile: a model with a fitted base round-trips bit for bit and
// is written as version 2; a model without one stays version 1; a version-1
// file claiming a base and a coefficient above the diagonal are corrupt.
func TestLinearBaseFile(t *testing.T) {
	spec := Spec{Window: 4, Context: 1, Hidden: 8, Layers: 2, LinearBase: true, ActNorm: true}
	checkSaveLoad(t, spec, []byte("{}"))
	f, file := savedModel(t, spec, nil)
	if v := binary.LittleEndian.Uint32(file[8:12]); v != 2 || !f.linFit {
		t.Fatalf("version %d, fitted %v; want 2 and true", v, f.linFit)
	}
	if _, plain := savedModel(t, Spec{Window: 4, Hidden: 8, Layers: 2}, nil); binary.
		LittleEndian.Uint32(plain[8:12]) != 1 {
		t.Error("a model without a base is not written as version 1")
	}
	if _, _, err := Load(bytes.NewReader(withVersion(file, 1))); !errors.Is(err, ErrCorrupt) {
		t.Errorf("version-1 file with a base: %v, want ErrCorrupt", err)
	}
	g := f.Clone()
	g.lin.l[1] = 0.5
	var buf bytes.Buffer
	if err := g.Save(&buf, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Load(&buf); !errors.Is(err, ErrCorrupt) {
		t.Errorf("coefficient above the diagonal: %v, want ErrCorrupt", err)
	}
}
