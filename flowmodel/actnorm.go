package flowmodel

import "math"

// actNorm is the activation normalisation of Glow (Kingma and Dhariwal,
// arXiv:1807.03039, section 3.1), applied to every coordinate before a flow
// layer when Spec.ActNorm is set:
//
//	y_i = exp(lambda_i) x_i + b_i,   l_i = lambda_i,   x_i = (y_i - b_i) exp(-lambda_i).
//
// It is diagonal, so it keeps every order and its log-derivative belongs to
// coordinate i (flow-math section 5). lambda and b start at zero (the
// identity) and are set from data once, by Train, so that the layer's outputs
// have zero mean and unit variance on the first training windows; the flow
// records that this happened and Load restores the record, so a loaded model
// is never re-initialised.
type actNorm struct {
	lam, b   []float64
	glam, gb []float64
}

// actNormInitRows is how many training windows the data-dependent
// initialisation looks at.
const actNormInitRows = 1024

// actNormMinStd floors a coordinate's standard deviation at initialisation,
// so a constant channel gives a large but finite scale.
const actNormMinStd = 1e-3

func (a *actNorm) bind(c *cursor, d int) {
	a.lam, a.glam = c.take(d)
	a.b, a.gb = c.take(d)
}

// forward writes y = exp(lambda) x + b for rows rows and adds lambda to the
// per-coordinate terms. scale holds exp(lambda).
func (a *actNorm) forward(y, x, terms, scale []float64, rows int) {
	d := len(a.lam)
	for i, l := range a.lam {
		scale[i] = math.Exp(l)
	}
	for n := range rows {
		xr, yr, tr := x[n*d:n*d+d], y[n*d:n*d+d], terms[n*d:n*d+d]
		for i, s := range scale[:d] {
			yr[i] = s*xr[i] + a.b[i]
			tr[i] += a.lam[i]
		}
	}
}

// backward turns dy (overwritten into dx, which may alias it) into the input
// adjoint and accumulates the parameter gradients; every log-derivative has
// adjoint -scale.
func (a *actNorm) backward(dx, dy, x []float64, rows int, lossScale float64) {
	d := len(a.lam)
	for i, l := range a.lam {
		e := math.Exp(l)
		var gl, gb float64
		for n := range rows {
			g := dy[n*d+i]
			gl += g * e * x[n*d+i]
			gb += g
			dx[n*d+i] = g * e
		}
		a.glam[i] += gl - lossScale*float64(rows)
		a.gb[i] += gb
	}
}

// inverseAt sets x[:, i] = (y[:, i] - b_i) exp(-lambda_i).
func (a *actNorm) inverseAt(x, y []float64, rows, i int) {
	d := len(a.lam)
	e := math.Exp(-a.lam[i])
	for n := range rows {
		x[n*d+i] = (y[n*d+i] - a.b[i]) * e
	}
}

// initActNorm sets every ActNorm layer from the first windows of x (and c),
// in order, so that each sees the outputs of the already initialised layers
// before it (flow-math section 5). Over a linear base the ActNorm layers stay
// the identity instead: the base already standardises the data, and the
// untrained flow is to be exactly the base's linear model.
func (f *Flow) initActNorm(x, c []float64) {
	if f.lin != nil {
		f.anInit = true
		return
	}
	d, nc := f.spec.Dim(), f.spec.Context
	rows := min(len(x)/d, actNormInitRows)
	x, c = x[:rows*d], c[:rows*nc]
	ws := f.newWorkspace(rows, true)
	for k, a := range f.an {
		f.forward(x, c, rows, ws)
		in := x
		if k > 0 {
			in = ws.h[k-1]
		}
		for i := range d {
			var mean, m2 float64
			for n := range rows {
				mean += in[n*d+i]
			}
			mean /= float64(rows)
			for n := range rows {
				v := in[n*d+i] - mean
				m2 += v * v
			}
			sd := math.Max(math.Sqrt(m2/float64(rows)), actNormMinStd)
			a.lam[i] = -math.Log(sd)
			a.b[i] = -mean / sd
		}
	}
	f.anInit = true
}

// layerInput returns the buffer the conditioner of layer k reads in the
// workspace: the channel-mixing output, else the ActNorm output, else the
// layer input in.
func (f *Flow) layerInput(ws *workspace, k int, in []float64) []float64 {
	if f.mix != nil {
		return ws.mx[k]
	}
	return f.mixInput(ws, k, in)
}

// mixInput returns the buffer the channel mixing of layer k reads: the
// ActNorm output, else the layer input in.
func (f *Flow) mixInput(ws *workspace, k int, in []float64) []float64 {
	if f.an != nil {
		return ws.an[k]
	}
	return in
}
