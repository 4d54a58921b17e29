package flowmodel

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
)

// Data is a set of windows for training: X holds rows windows of W*C values
// (time-major) and Context one context vector per window (empty when the
// spec has none).
type Data struct {
	X       []float64
	Context []float64
}

// TrainOptions configures Train. Zero fields take the defaults given.
type TrainOptions struct {
	// Epochs is the maximum number of passes over the training data
	// (default 100).
	Epochs int
	// BatchSize is the number of windows per step (default 256; the last
	// batch of an epoch may be smaller).
	BatchSize int
	// LearningRate is Adam's step size (default 1e-3).
	LearningRate float64
	// WeightDecay is the decoupled weight decay of AdamW (Loshchilov and
	// Hutter, arXiv:1711.05101), per unit learning rate; 0 disables it.
	WeightDecay float64
	// ClipNorm bounds the global gradient norm (default 5, as the NSF code);
	// a negative value disables clipping.
	ClipNorm float64
	// Patience is the number of epochs without a better validation NLL after
	// which training stops (default 10). It has no effect without
	// validation data.
	Patience int
	// Seed drives the minibatch shuffling, so a seed (with the flow's own
	// seed) gives one bit-identical result.
	Seed uint64
	// LinearRidge is the ridge penalty with which Train fits a linear base
	// (Spec.LinearBase) that was never set, see FitLinearBase (default
	// DefaultLinearRidge).
	LinearRidge float64
	// Progress, if not nil, is called after every epoch from Train's
	// goroutine.
	Progress func(Progress)
}

// Progress describes one finished epoch. NLLs are mean negative
// log-likelihoods per window, in nats.
type Progress struct {
	Epoch    int
	TrainNLL float64
	ValidNLL float64 // NaN without validation data
	Best     bool    // ValidNLL is the best so far
}

// Stop reasons reported in Report.Stopped.
const (
	StopMaxEpochs = "max-epochs"
	StopEarly     = "early-stop"
	StopCanceled  = "canceled"
)

// Report summarises a training run. NLLs are per window, in nats.
type Report struct {
	Epochs        int     // epochs run
	Steps         int     // optimizer steps applied
	SkippedSteps  int     // steps skipped for a non-finite loss or gradient
	BestEpoch     int     // epoch whose weights the flow holds (1-based; 0 = initial)
	BestValidNLL  float64 // validation NLL of those weights; NaN without validation
	FinalTrainNLL float64 // mean training loss of the last epoch
	Stopped       string  // StopMaxEpochs, StopEarly or StopCanceled
}

func (o TrainOptions) withDefaults() TrainOptions {
	if o.Epochs == 0 {
		o.Epochs = 100
	}
	if o.BatchSize == 0 {
		o.BatchSize = 256
	}
	if o.LearningRate == 0 {
		o.LearningRate = 1e-3
	}
	if o.ClipNorm == 0 {
		o.ClipNorm = 5
	}
	if o.Patience == 0 {
		o.Patience = 10
	}
	if o.LinearRidge == 0 {
		o.LinearRidge = DefaultLinearRidge
	}
	return o
}

// Train fits f to the training windows by maximum likelihood with Adam on
// shuffled minibatches, clipping the global gradient norm, and returns a
// report. A step whose loss or gradient is not finite is skipped and counted,
// never applied. With validation data, the weights of the epoch with the
// best validation NLL are kept and training stops after Patience epochs
// without improvement; without it the last weights are kept.
//
// A flow with a linear base that was never set has it fitted to the
// training windows first (FitLinearBase with opt.LinearRidge); the base is
// then frozen: no step changes it. A flow with ActNorm layers that were never
// set from data has them set from the first 1024 training windows before the
// first step. The weights before the first step count as epoch 0 for the
// validation choice, so over a new linear base (whose upper layers New starts
// at the identity) the result is never worse on the validation data than the
// linear model alone.
//
// Cancelling ctx stops training between steps; f then holds the best weights
// so far and the error wraps ctx.Err(). Train returns an error wrapping
// ErrNonFinite if the initial validation NLL is not finite. Wrong widths
// panic with ErrShape. Train must not run concurrently with any other method
// of f.
func Train(ctx context.Context, f *Flow, train, valid Data, opt TrainOptions) (Report, error) {
	opt = opt.withDefaults()
	rows := f.checkBatch(train.X, train.Context)
	f.checkBatch(valid.X, valid.Context)
	if rows == 0 || opt.Epochs < 0 || opt.BatchSize < 1 {
		return Report{}, fmt.Errorf("flowmodel: train: need training data, epochs >= 0, batch >= 1")
	}
	if f.lin != nil && !f.linFit {
		if err := FitLinearBase(f, train, opt.LinearRidge); err != nil {
			return Report{}, fmt.Errorf("flowmodel: train: %w", err)
		}
	}
	if f.an != nil && !f.anInit {
		f.initActNorm(train.X, train.Context)
	}
	t := newTrainer(f, opt, rows)
	rep := Report{BestValidNLL: math.NaN(), Stopped: StopMaxEpochs}
	hasValid := len(valid.X) > 0
	best := make([]float64, len(f.theta))
	copy(best, f.theta)
	if hasValid {
		v, err := t.meanNLL(valid)
		if err != nil {
			return rep, fmt.Errorf("flowmodel: train: initial validation: %w", err)
		}
		rep.BestValidNLL = v
	}
	stale := 0
	for epoch := 1; epoch <= opt.Epochs; epoch++ {
		trainNLL, err := t.epoch(ctx, train, &rep)
		if err != nil {
			copy(f.theta, best)
			rep.Stopped = StopCanceled
			return rep, fmt.Errorf("flowmodel: train: %w", err)
		}
		rep.Epochs, rep.FinalTrainNLL = epoch, trainNLL
		pr := Progress{Epoch: epoch, TrainNLL: trainNLL, ValidNLL: math.NaN()}
		if hasValid {
			// A non-finite validation NLL counts as no improvement.
			pr.ValidNLL, _ = t.meanNLL(valid)
			if pr.ValidNLL < rep.BestValidNLL {
				rep.BestValidNLL, rep.BestEpoch, pr.Best = pr.ValidNLL, epoch, true
				copy(best, f.theta)
				stale = 0
			} else {
				stale++
			}
		} else {
			rep.BestEpoch, pr.Best = epoch, true
			copy(best, f.theta)
		}
		if opt.Progress != nil {
			opt.Progress(pr)
		}
		if hasValid && stale >= opt.Patience {
			rep.Stopped = StopEarly
			break
		}
	}
	copy(f.theta, best)
	return rep, nil
}

// trainer holds Adam's state and the minibatch buffers of one Train call.
type trainer struct {
	f      *Flow
	opt    TrainOptions
	rng    *rand.Rand
	perm   []int
	m, v   []float64
	step   int
	ws     *workspace
	xb, cb []float64
	nll    []float64
}

func newTrainer(f *Flow, opt TrainOptions, rows int) *trainer {
	bs := min(opt.BatchSize, rows)
	d, nc := f.spec.Dim(), f.spec.Context
	return &trainer{
		f: f, opt: opt,
		rng:  rand.New(rand.NewPCG(opt.Seed, 0x747261696e)),
		perm: make([]int, rows),
		m:    make([]float64, len(f.theta)),
		v:    make([]float64, len(f.theta)),
		ws:   f.newWorkspace(bs, true),
		xb:   make([]float64, bs*d),
		cb:   make([]float64, bs*nc),
	}
}

// epoch runs one shuffled pass and returns the mean training loss of the
// applied steps.
func (t *trainer) epoch(ctx context.Context, data Data, rep *Report) (float64, error) {
	f := t.f
	d, nc := f.spec.Dim(), f.spec.Context
	for i := range t.perm {
		t.perm[i] = i
	}
	t.rng.Shuffle(len(t.perm), func(i, j int) { t.perm[i], t.perm[j] = t.perm[j], t.perm[i] })
	var sum float64
	var count int
	for b0 := 0; b0 < len(t.perm); b0 += t.ws.rows {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		idx := t.perm[b0:min(b0+t.ws.rows, len(t.perm))]
		r := len(idx)
		for n, src := range idx {
			copy(t.xb[n*d:n*d+d], data.X[src*d:src*d+d])
			copy(t.cb[n*nc:n*nc+nc], data.Context[src*nc:src*nc+nc])
		}
		loss, ok := t.stepOn(t.xb[:r*d], t.cb[:r*nc], r)
		if !ok {
			rep.SkippedSteps++
			continue
		}
		rep.Steps++
		sum += loss * float64(r)
		count += r
	}
	if count == 0 {
		return math.NaN(), nil
	}
	return sum / float64(count), nil
}

// stepOn computes the loss and gradient of one minibatch and, if both are
// finite, applies one clipped Adam step. It reports the loss and whether the
// step was applied.
func (t *trainer) stepOn(x, c []float64, r int) (float64, bool) {
	f := t.f
	d := f.spec.Dim()
	clear(f.grad)
	f.forward(x, c, r, t.ws)
	var loss float64
	for _, v := range t.ws.terms[:r*d] {
		loss -= v
	}
	loss /= float64(r)
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return loss, false
	}
	f.backward(x, c, r, t.ws, 1/float64(r), nil, nil)
	var norm2 float64
	for _, g := range f.grad {
		norm2 += g * g
	}
	norm := math.Sqrt(norm2)
	if math.IsNaN(norm) || math.IsInf(norm, 0) {
		return loss, false
	}
	scale := 1.0
	if t.opt.ClipNorm > 0 && norm > t.opt.ClipNorm {
		scale = t.opt.ClipNorm / norm
	}
	t.adam(scale)
	return loss, true
}

// Adam constants (Kingma and Ba, arXiv:1412.6980, section 2 defaults).
const (
	adamBeta1 = 0.9
	adamBeta2 = 0.999
	adamEps   = 1e-8
)

// adam applies one AdamW step to the gradient times scale. Masked weights
// have zero gradient, so their moments stay zero and they stay zero; the
// frozen linear base is skipped, so that weight decay does not shrink it.
func (t *trainer) adam(scale float64) {
	t.step++
	lr, wd := t.opt.LearningRate, t.opt.WeightDecay
	c1 := 1 - math.Pow(adamBeta1, float64(t.step))
	c2 := 1 - math.Pow(adamBeta2, float64(t.step))
	theta := t.f.theta
	for i := t.f.numFrozen(); i < len(theta); i++ {
		g := t.f.grad[i] * scale
		m := adamBeta1*t.m[i] + (1-adamBeta1)*g
		v := adamBeta2*t.v[i] + (1-adamBeta2)*g*g
		t.m[i], t.v[i] = m, v
		theta[i] -= lr * (m / c1) / (math.Sqrt(v/c2) + adamEps)
		if wd != 0 {
			theta[i] -= lr * wd * theta[i]
		}
	}
}

// meanNLL returns the mean negative log-likelihood per window of data.
func (t *trainer) meanNLL(data Data) (float64, error) {
	rows := len(data.X) / t.f.spec.Dim()
	if cap(t.nll) < rows {
		t.nll = make([]float64, rows)
	}
	lp, err := t.f.LogProb(t.nll[:rows], data.X, data.Context)
	if err != nil {
		return math.NaN(), err
	}
	var s float64
	for _, v := range lp {
		s -= v
	}
	return s / float64(rows), nil
}
