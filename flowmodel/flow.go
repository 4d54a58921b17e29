package flowmodel

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// logSqrt2Pi is log(sqrt(2*pi)), the normalising constant of N(0, 1).
var logSqrt2Pi = 0.5 * math.Log(2*math.Pi)

// chunkRows is the number of windows the scoring methods push through the
// whole stack at a time: large enough to amortise loop overheads, small
// enough that a chunk's activations stay in L2 cache and the workspace does
// not grow with the batch.
const chunkRows = 64

// Flow is a normalizing flow over windows: a stack of autoregressive
// (affine or spline) layers with MADE conditioners, optionally preceded by
// ActNorm and channel mixing, and a standard normal base. The density
// direction maps a window x to z = f_K(...f_1(x; c)...; c) and
//
//	log p(x | c) = sum_i log phi(z_i) + sum_k sum_i l_k,i
//
// where l_k,i is layer k's log-derivative at coordinate i.
//
// A Flow holds a scoring workspace, so its methods must not be called
// concurrently; Clone gives an independent copy for another goroutine.
// Train changes the weights in place.
type Flow struct {
	spec   Spec
	layers []*made
	kappa  float64
	theta  []float64   // every parameter, in a fixed order (the model file's)
	grad   []float64   // gradients, same layout
	an     []*actNorm  // per layer when Spec.ActNorm, else nil
	anInit bool        // the ActNorm layers were set from data
	mix    []*luMix    // per layer with channel or window mixing, else nil
	lin    *linearBase // Spec.LinearBase, else nil; its parameters lead theta
	linFit bool        // the linear base was fitted to data
	ws     *workspace  // scoring, chunks of chunkRows windows
	sws    *workspace  // sampling, every layer kept
}

// cursor hands out consecutive views of the flat parameter and gradient
// vectors; with nil vectors it only counts.
type cursor struct {
	theta, grad []float64
	n           int
}

func (c *cursor) take(n int) (v, g []float64) {
	if c.theta != nil {
		v, g = c.theta[c.n:c.n+n:c.n+n], c.grad[c.n:c.n+n:c.n+n]
	}
	c.n += n
	return v, g
}

// New builds a flow from spec (zero fields take their defaults) with weights
// drawn from a PCG generator seeded by seed, so one seed gives one flow.
func New(spec Spec, seed uint64) (*Flow, error) {
	f, err := build(spec)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 0x666c6f77))
	for _, m := range f.layers {
		m.init(rng.Float64)
		if f.lin != nil {
			// Exactly the identity above the base, so that the untrained
			// flow is the linear-Gaussian model of the base.
			clear(m.last.w)
			clear(m.last.b)
		}
	}
	return f, nil
}

// build constructs the network and its parameter storage, uninitialised.
func build(spec Spec) (*Flow, error) {
	spec = spec.WithDefaults()
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	f := &Flow{spec: spec, kappa: spec.Clamp}
	d := spec.Dim()
	for k := range spec.Layers {
		m0 := make([]int, d)
		if spec.Permutation == PermRandom {
			perm := rand.New(rand.NewPCG(spec.PermutationSeed, uint64(k))).Perm(d)
			for i, p := range perm {
				m0[i] = p + 1
			}
			f.layers = append(f.layers, newMADE(spec, m0, spec.paramsPerValue()))
			continue
		}
		for i := range m0 {
			switch {
			case spec.Kind == KindMAF && k%2 == 1:
				m0[i] = d - i
			case spec.Kind == KindRealNVP && spec.CouplingMask != "":
				m0[i] = 1 + (int(spec.CouplingMask[i]-'0')+k)%2
			case spec.Kind == KindRealNVP:
				m0[i] = 1 + (i+k)%2
			default:
				m0[i] = i + 1
			}
		}
		f.layers = append(f.layers, newMADE(spec, m0, spec.paramsPerValue()))
	}
	if spec.ActNorm {
		f.an = make([]*actNorm, len(f.layers))
		for k := range f.an {
			f.an[k] = &actNorm{}
		}
	}
	if spec.ChannelMixing || spec.WindowMixing {
		width := spec.Channels
		if spec.WindowMixing {
			width = d
		}
		f.mix = make([]*luMix, len(f.layers))
		for k := range f.mix {
			f.mix[k] = newLUMix(width)
		}
	}
	if spec.LinearBase {
		f.lin = newLinearBase(d, spec.Context)
	}
	var c cursor
	f.bind(&c)
	f.theta, f.grad = make([]float64, c.n), make([]float64, c.n)
	c = cursor{theta: f.theta, grad: f.grad}
	f.bind(&c)
	return f, nil
}

// bind lays the parameters out in the model file's order: the linear base
// (if any), then per layer the ActNorm and the channel mixing (if any) and
// then the MADE.
func (f *Flow) bind(c *cursor) {
	d := f.spec.Dim()
	if f.lin != nil {
		f.lin.bind(c)
	}
	for k, m := range f.layers {
		if f.an != nil {
			f.an[k].bind(c, d)
		}
		if f.mix != nil {
			f.mix[k].bind(c)
		}
		m.bind(c)
	}
}

// Spec returns the flow's spec with defaults filled in.
func (f *Flow) Spec() Spec { return f.spec }

// NumParams returns the number of stored parameters, masked zeros included.
func (f *Flow) NumParams() int { return len(f.theta) }

// Clone returns a deep copy of f with its own workspace, for scoring or
// sampling from another goroutine. It costs one copy of the weights (about
// 0.4 MB at the default size).
func (f *Flow) Clone() *Flow {
	g, err := build(f.spec)
	if err != nil {
		panic("flowmodel: internal error: clone of a valid spec failed: " + err.Error())
	}
	copy(g.theta, f.theta)
	g.anInit, g.linFit = f.anInit, f.linFit
	return g
}

// workspace holds the buffers of one forward (and backward) pass for up to
// rows windows. keep=false passes share one conditioner cache across layers.
type workspace struct {
	rows                   int
	keep                   bool
	mc                     []madeCache
	h                      [][]float64 // outputs of the layers (z is the last)
	alpha                  [][]float64 // clamped log-scales per layer (keep only)
	e                      [][]float64 // exp(-alpha) per layer (keep only)
	alphaRow, eRow, tmpRow []float64
	base                   []float64   // linear base output u, the stack's input
	an                     [][]float64 // ActNorm outputs per layer (one buffer unless keep)
	mx                     [][]float64 // channel-mixing outputs, likewise
	anScale                []float64
	spl                    rqs       // spline scratch
	terms                  []float64 // per-coordinate log-density terms
	dh, dh2                []float64
	dout                   []float64
	dctx                   []float64
	scratch                [3][]float64
}

func (f *Flow) newWorkspace(rows int, keep bool) *workspace {
	d := f.spec.Dim()
	ws := &workspace{rows: rows, keep: keep, terms: make([]float64, rows*d),
		alphaRow: make([]float64, d), eRow: make([]float64, d), tmpRow: make([]float64, d),
		spl: rqs{k: f.spec.Bins, b: f.spec.TailBound}, anScale: make([]float64, d)}
	perLayer := func() [][]float64 {
		n := 1
		if keep {
			n = len(f.layers)
		}
		bufs := make([][]float64, len(f.layers))
		for k := range bufs {
			if k < n {
				bufs[k] = make([]float64, rows*d)
			} else {
				bufs[k] = bufs[0]
			}
		}
		return bufs
	}
	if f.lin != nil {
		ws.base = make([]float64, rows*d)
	}
	if f.an != nil {
		ws.an = perLayer()
	}
	if f.mix != nil {
		ws.mx = perLayer()
	}
	nl := len(f.layers)
	if !keep {
		ws.mc = []madeCache{f.layers[0].newCache(rows)}
		ws.h = [][]float64{make([]float64, rows*d), make([]float64, rows*d)}
		return ws
	}
	for _, m := range f.layers {
		ws.mc = append(ws.mc, m.newCache(rows))
	}
	ws.h = make([][]float64, nl)
	ws.alpha, ws.e = make([][]float64, nl), make([][]float64, nl)
	for k := range nl {
		ws.h[k] = make([]float64, rows*d)
		ws.alpha[k] = make([]float64, rows*d)
		ws.e[k] = make([]float64, rows*d)
	}
	ws.dh, ws.dh2 = make([]float64, rows*d), make([]float64, rows*d)
	ws.dout = make([]float64, rows*f.spec.paramsPerValue()*d+panelWidth)
	ws.dctx = make([]float64, rows*f.spec.Context)
	for i := range ws.scratch {
		ws.scratch[i] = make([]float64, rows*f.spec.Hidden+panelWidth)
	}
	return ws
}

// forward runs the density direction on rows windows and leaves the
// per-coordinate terms log phi(z_i) + sum_k l_k,i in ws.terms and z in the
// last h buffer. It returns z.
func (f *Flow) forward(x, c []float64, rows int, ws *workspace) []float64 {
	d := f.spec.Dim()
	nd := rows * d
	terms := ws.terms[:nd]
	clear(terms)
	in := x[:nd]
	if f.lin != nil {
		f.lin.forward(ws.base[:nd], in, c, terms, rows)
		in = ws.base[:nd]
	}
	for k, m := range f.layers {
		mc, out := &ws.mc[0], ws.h[k%2]
		if ws.keep {
			mc, out = &ws.mc[k], ws.h[k]
		}
		if f.an != nil {
			f.an[k].forward(ws.an[k], in, terms, ws.anScale, rows)
			in = ws.an[k][:nd]
		}
		if f.mix != nil {
			f.mix[k].forward(ws.mx[k], in, terms, nd/f.mix[k].c)
			in = ws.mx[k][:nd]
		}
		m.forward(in, c, rows, mc)
		if f.spec.LayerType == LayerSpline {
			f.splineForward(mc.out, in, out, terms, rows, &ws.spl)
		} else {
			f.affineForward(k, mc.out, in, out, terms, rows, ws)
		}
		in = out[:nd]
	}
	for i, z := range in {
		terms[i] += -0.5*z*z - logSqrt2Pi
	}
	return in
}

// stackInput returns what the first layer reads for the windows x: the
// linear base's output in ws, or x itself without a base.
func (f *Flow) stackInput(ws *workspace, x []float64) []float64 {
	if f.lin != nil {
		return ws.base
	}
	return x
}

// numFrozen is the number of leading parameters that gradient training
// leaves alone (the linear base).
func (f *Flow) numFrozen() int {
	if f.lin == nil {
		return 0
	}
	return f.lin.size()
}

// checkBatch validates the widths of a batch and returns its row count.
func (f *Flow) checkBatch(x, c []float64) int {
	d := f.spec.Dim()
	if len(x)%d != 0 {
		panicShape()
	}
	rows := len(x) / d
	if len(c) != rows*f.spec.Context {
		panicShape()
	}
	return rows
}

func sized(dst []float64, n int) []float64 {
	if len(dst) == 0 {
		return make([]float64, n)
	}
	if len(dst) != n {
		panicShape()
	}
	return dst
}

// LogProb writes log p(x_n | c_n) in nats for every window n of the batch x
// into dst and returns dst. x holds rows windows of W*C values each,
// time-major; c holds rows context vectors of Spec.Context values (empty when
// the spec has no context). An empty dst is allocated; otherwise it must have
// one entry per window. Wrong widths panic with ErrShape.
//
// If any log-density is NaN or infinite the error wraps ErrNonFinite and
// names the first such window; dst is filled regardless.
//
// After the first call, LogProb allocates nothing when dst is given.
func (f *Flow) LogProb(dst, x, c []float64) ([]float64, error) {
	rows := f.checkBatch(x, c)
	dst = sized(dst, rows)
	d := f.spec.Dim()
	for n0 := 0; n0 < rows; n0 += chunkRows {
		r, terms := f.scoreChunk(x, c, n0, rows)
		for n := range r {
			var s float64
			for _, t := range terms[n*d : n*d+d] {
				s += t
			}
			dst[n0+n] = s
		}
	}
	return dst, firstNonFinite(dst, 1)
}

// StepLogProb writes, for every window n and step t, the exact conditional
// log-density log p(x_n,t | x_n,<t, c_n) into dst[n*W + t] (a step's term
// sums its C channels) and returns dst. The terms of a window sum to its
// LogProb up to rounding, and the last column is the online point score of
// the newest step. Arguments follow LogProb; dst has rows*W entries.
//
// The terms are exact only when every layer keeps the time order; for a
// KindMAF stack StepLogProb returns ErrNotTimeOrdered and leaves dst alone.
func (f *Flow) StepLogProb(dst, x, c []float64) ([]float64, error) {
	rows := f.checkBatch(x, c)
	w, ch := f.spec.Window, f.spec.Channels
	dst = sized(dst, rows*w)
	if !f.spec.TimeOrdered() {
		return dst, ErrNotTimeOrdered
	}
	for n0 := 0; n0 < rows; n0 += chunkRows {
		r, terms := f.scoreChunk(x, c, n0, rows)
		for n := range r {
			row := terms[n*w*ch : (n+1)*w*ch]
			out := dst[(n0+n)*w : (n0+n+1)*w]
			for t := range out {
				var s float64
				for _, v := range row[t*ch : t*ch+ch] {
					s += v
				}
				out[t] = s
			}
		}
	}
	return dst, firstNonFinite(dst, w)
}

// scoreChunk runs the density direction on the chunk of at most chunkRows
// windows starting at window n0 and returns its size and per-coordinate
// terms (valid until the next call).
func (f *Flow) scoreChunk(x, c []float64, n0, rows int) (int, []float64) {
	if f.ws == nil {
		f.ws = f.newWorkspace(chunkRows, false)
	}
	d, nc := f.spec.Dim(), f.spec.Context
	r := min(chunkRows, rows-n0)
	var cc []float64
	if nc > 0 {
		cc = c[n0*nc : (n0+r)*nc]
	}
	f.forward(x[n0*d:(n0+r)*d], cc, r, f.ws)
	return r, f.ws.terms
}

// firstNonFinite reports the first non-finite entry of v, naming its row for
// rows of width w.
func firstNonFinite(v []float64, w int) error {
	for i, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("%w: window %d", ErrNonFinite, i/w)
		}
	}
	return nil
}

// affineForward applies affine layer k to rows windows given its
// conditioner output params: z = (x - mu) exp(-alpha), with -alpha added to
// the coordinate's term. A workspace that keeps every layer stores alpha and
// exp(-alpha) for the backward pass.
func (f *Flow) affineForward(k int, params, x, z, terms []float64, rows int, ws *workspace) {
	d := f.spec.Dim()
	for n := range rows {
		mu := params[2*n*d : 2*n*d+d]
		a := params[2*n*d+d : 2*n*d+2*d]
		alpha, e := ws.alphaRow, ws.eRow
		if ws.keep {
			alpha, e = ws.alpha[k][n*d:n*d+d], ws.e[k][n*d:n*d+d]
		}
		softClamp(alpha, e, a, f.kappa, ws.tmpRow)
		xi, zo, tn := x[n*d:n*d+d], z[n*d:n*d+d], terms[n*d:n*d+d]
		for i, al := range alpha[:d] {
			zo[i] = (xi[i] - mu[i]) * e[i]
			tn[i] -= al
		}
	}
}

// splineForward applies one spline layer to rows windows: z = g(x) per
// coordinate, with log g'(x) added to the coordinate's term.
func (f *Flow) splineForward(params, x, z, terms []float64, rows int, s *rqs) {
	d := f.spec.Dim()
	pd := f.spec.paramsPerValue() * d
	for n := range rows {
		row := params[n*pd : n*pd+pd]
		s.prepare(row, d)
		for i := range d {
			s.load(i)
			z[n*d+i], s.args[i] = s.forwardArg(x[n*d+i])
		}
		// One vectorised logarithm per row for the log-derivatives.
		vlog(s.args, s.args)
		for i, ld := range s.args {
			terms[n*d+i] += ld
		}
	}
}
