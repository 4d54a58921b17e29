package flowmodel

import (
	"math/rand/v2"
	"slices"
)

// Sample draws one window per row of dst from the flow (unconditionally) and
// returns dst. dst holds rows windows of W*C values and c one context vector
// per row (empty without a context). Random numbers come from rng only, so a
// seeded rng gives reproducible samples. Wrong widths panic with ErrShape.
func (f *Flow) Sample(dst, c []float64, rng *rand.Rand) ([]float64, error) {
	return f.SampleSuffix(dst, nil, f.spec.Window, c, rng)
}

// SampleSuffix draws the last h steps of every window given its first W-h
// steps, and returns dst. prefix holds rows*(W-h)*C known values (the first
// W-h steps of each window, time-major); dst receives rows complete windows
// of W*C values: the prefix copied, then the sampled steps. h must be in
// [1, W]; h = W samples whole windows.
//
// For a time-ordered stack sampling is exact ancestral sampling through the
// per-step conditionals (flow-math section 9.7): for each sampled step, in
// time order, base values u ~ N(0, 1) are drawn and passed back through the
// layers, each layer inverted on that step given the steps before it. It
// costs h*C*K conditioner passes per chunk of 64 windows. KindMAF and
// KindRealNVP stacks sample whole windows only (h = W, layer by layer); any
// other h returns ErrNotTimeOrdered. Sample and SampleSuffix use the flow's
// sampling workspace, so like scoring they need one goroutine per Flow.
//
// A result that is not finite (a sample driven far into the tails) is
// reported with an error wrapping ErrNonFinite; dst is filled regardless.
func (f *Flow) SampleSuffix(dst, prefix []float64, h int, c []float64,
	rng *rand.Rand) ([]float64, error) {
	w, ch, d := f.spec.Window, f.spec.Channels, f.spec.Dim()
	if h < 1 || h > w || len(dst)%d != 0 {
		panicShape()
	}
	rows := len(dst) / d
	p := (w - h) * ch
	if len(prefix) != rows*p || len(c) != rows*f.spec.Context {
		panicShape()
	}
	if h < w && !f.spec.TimeOrdered() {
		return dst, ErrNotTimeOrdered
	}
	if f.sws == nil {
		f.sws = f.newWorkspace(chunkRows, true)
	}
	for n := range rows {
		copy(dst[n*d:n*d+p], prefix[n*p:n*p+p])
		clear(dst[n*d+p : n*d+d])
	}
	nc := f.spec.Context
	for n0 := 0; n0 < rows; n0 += chunkRows {
		r := min(chunkRows, rows-n0)
		x := dst[n0*d : (n0+r)*d]
		var cc []float64
		if nc > 0 {
			cc = c[n0*nc : (n0+r)*nc]
		}
		if f.spec.TimeOrdered() {
			f.fillSuffix(x, cc, r, p, rng)
		} else {
			f.invertAll(x, cc, r, rng)
		}
	}
	return dst, firstNonFinite(dst, d)
}

// fillSuffix completes steps p/C.. of r windows in x in place, one step at
// a time: the base values of the step are drawn, then each layer is
// inverted on that step, its channels in order and then its channel mixing
// and ActNorm, and last the linear base.
func (f *Flow) fillSuffix(x, c []float64, r, p int, rng *rand.Rand) {
	ws, nl := f.sws, len(f.layers)
	w, ch, d := f.spec.Window, f.spec.Channels, f.spec.Dim()
	// The prefix pass leaves every layer's input and output at the known
	// coordinates; the placeholder suffix does not reach them.
	f.forward(x, c, r, ws)
	for t := p / ch; t < w; t++ {
		z := ws.h[nl-1]
		for n := range r {
			for j := range ch {
				z[n*d+t*ch+j] = rng.NormFloat64()
			}
		}
		for k := nl - 1; k >= 0; k-- {
			in := f.stackInput(ws, x)
			if k > 0 {
				in = ws.h[k-1]
			}
			for j := range ch {
				f.invertAt(k, in, ws.h[k], c, r, t*ch+j, true)
			}
			f.invertPre(k, in, r, t, t+1)
		}
		if f.lin != nil {
			for j := range ch {
				f.lin.inverseAt(x, ws.base, c, r, t*ch+j)
			}
		}
	}
}

// invertAll samples whole windows through a stack with any orderings: the
// base draw is inverted layer by layer, each layer coordinate by coordinate
// in its own order (flow-math section 3.3).
func (f *Flow) invertAll(x, c []float64, r int, rng *rand.Rand) {
	z := f.sws.h[len(f.layers)-1]
	for j := range r * f.spec.Dim() {
		z[j] = rng.NormFloat64()
	}
	f.invertFromBase(x, c, r)
}

// invertFromBase writes into x the windows that the flow maps to the r base
// points held in the sampling workspace's last layer buffer. Each layer is
// inverted one degree at a time: coordinates of equal degree depend only on
// coordinates of lower degree, so one conditioner pass serves them all (two
// passes for a coupling layer, D for an autoregressive one).
func (f *Flow) invertFromBase(x, c []float64, r int) {
	ws, d, nl := f.sws, f.spec.Dim(), len(f.layers)
	for k := nl - 1; k >= 0; k-- {
		in := f.stackInput(ws, x)
		if k > 0 {
			in = ws.h[k-1]
		}
		clear(in[:r*d])
		clear(f.mixInput(ws, k, in)[:r*d])
		clear(f.layerInput(ws, k, in)[:r*d])
		m0 := f.layers[k].m0
		for g := 1; g <= slices.Max(m0); g++ {
			f.invertDegree(k, in, ws.h[k], c, r, g)
		}
		f.invertPre(k, in, r, 0, f.spec.Window)
	}
	if f.lin != nil {
		clear(x[:r*d])
		for i := range d {
			f.lin.inverseAt(x, ws.base, c, r, i)
		}
	}
}

// invertDegree inverts layer k at every coordinate of degree g.
func (f *Flow) invertDegree(k int, in, out, c []float64, r, g int) {
	first := true
	for i, m := range f.layers[k].m0 {
		if m != g {
			continue
		}
		f.invertAt(k, in, out, c, r, i, first)
		first = false
	}
}

// invertAt sets in[:, i] so that layer k maps it to out[:, i], given the
// coordinates of in that come before i in the layer's order: for the affine
// layer x_i = mu_i + z_i exp(alpha_i), for the spline its quadratic root.
//
// The conditioner runs only when pass is set; otherwise the previous pass,
// made for a coordinate of the same degree, is still valid.
func (f *Flow) invertAt(k int, in, out, c []float64, r, i int, pass bool) {
	d, mc := f.spec.Dim(), &f.sws.mc[k]
	src := f.layerInput(f.sws, k, in)
	if pass {
		f.layers[k].forward(src, c, r, mc)
	}
	if f.spec.LayerType == LayerSpline {
		pd := f.spec.paramsPerValue() * d
		s := &f.sws.spl
		for n := range r {
			s.prepare(mc.out[n*pd:n*pd+pd], d)
			s.load(i)
			src[n*d+i] = s.inverse(out[n*d+i])
		}
	} else {
		for n := range r {
			mu := mc.out[2*n*d+i]
			al := clampOne(mc.out[2*n*d+d+i], f.kappa)
			src[n*d+i] = mu + out[n*d+i]*expGo(al)
		}
	}
}

// invertPre inverts the channel or window mixing and the ActNorm of layer k
// on steps t0..t1-1 (all of them for window mixing), from the transform
// input back to the layer input in.
func (f *Flow) invertPre(k int, in []float64, r, t0, t1 int) {
	ws, d, ch := f.sws, f.spec.Dim(), f.spec.Channels
	src, mid := f.layerInput(ws, k, in), f.mixInput(ws, k, in)
	if f.mix != nil {
		// Blocks of one step (channel mixing) or of the whole window.
		bw := f.mix[k].c
		for n := range r {
			for o := n*d + t0*ch; o < n*d+t1*ch; o += bw {
				f.mix[k].inverseStep(mid[o:o+bw], src[o:o+bw])
			}
		}
	}
	if f.an != nil {
		for i := t0 * ch; i < t1*ch; i++ {
			f.an[k].inverseAt(in, mid, r, i)
		}
	}
}
