package flowmodel

// backward accumulates into f.grad the gradient of
//
//	L = -scale * sum_n log p(x_n | c_n)
//
// for the forward pass held in ws (built with keep), following flow-math
// section 3.4: with zbar the adjoint of a layer's output z and e = exp(-alpha),
//
//	mubar = -zbar*e,  alphabar = -zbar*z + scale,  xbar = zbar*e + MADE path,
//	abar = alphabar * (1 - (alpha/kappa)^2).
//
// When dx is not nil it receives dL/dx; when dc is not nil dL/dc is added.
func (f *Flow) backward(x, c []float64, rows int, ws *workspace, scale float64, dx, dc []float64) {
	d := f.spec.Dim()
	nd := rows * d
	kappa := f.kappa
	dz, dprev := ws.dh[:nd], ws.dh2[:nd]
	z := ws.h[len(f.layers)-1][:nd]
	for i, v := range z {
		dz[i] = scale * v
	}
	for k := len(f.layers) - 1; k >= 0; k-- {
		lin := f.stackInput(ws, x)[:nd] // the layer's input
		if k > 0 {
			lin = ws.h[k-1][:nd]
		}
		in := f.layerInput(ws, k, lin)[:nd] // what the transform reads
		out, alpha, ee, mc := ws.h[k], ws.alpha[k], ws.e[k], &ws.mc[k]
		if f.spec.LayerType == LayerSpline {
			f.splineBackward(mc.out, in, dz, dprev, ws.dout, rows, scale, &ws.spl)
			f.layers[k].backward(ws.dout, in, c, rows, mc, dprev, dc, &ws.scratch)
			f.backwardPre(k, ws, lin, dprev, rows, scale)
			dz, dprev = dprev, dz
			continue
		}
		for n := range rows {
			for i := range d {
				j := n*d + i
				al := alpha[j]
				e := ee[j]
				g := dz[j]
				r := al / kappa
				ws.dout[2*n*d+i] = -g * e
				ws.dout[2*n*d+d+i] = (scale - g*out[j]) * (1 - r*r)
				dprev[j] = g * e
			}
		}
		f.layers[k].backward(ws.dout, in, c, rows, mc, dprev, dc, &ws.scratch)
		f.backwardPre(k, ws, lin, dprev, rows, scale)
		dz, dprev = dprev, dz
	}
	if f.lin != nil && (dx != nil || dc != nil) {
		f.lin.backward(dx, dc, dz, rows)
		return
	}
	if dx != nil {
		copy(dx, dz)
	}
}

// splineBackward sets dparams (the conditioner output adjoint) and dx (the
// direct input adjoint) of one spline layer from dz; every log-derivative
// has adjoint -scale.
func (f *Flow) splineBackward(params, x, dz, dx, dparams []float64, rows int, scale float64,
	s *rqs) {
	d := f.spec.Dim()
	pd := f.spec.paramsPerValue() * d
	clear(dparams[:rows*pd])
	for n := range rows {
		row := params[n*pd : n*pd+pd]
		grow := dparams[n*pd : n*pd+pd]
		s.prepare(row, d)
		for i := range d {
			j := n*d + i
			s.load(i)
			dx[j] = s.backward(x[j], dz[j], -scale, grow, d, i)
		}
	}
}

// backwardPre carries the adjoint d of the transform input of layer k back
// through its channel mixing and ActNorm to the layer input lin, in place.
func (f *Flow) backwardPre(k int, ws *workspace, lin, d []float64, rows int, scale float64) {
	if f.mix != nil {
		m := f.mix[k]
		m.backward(d, d, f.mixInput(ws, k, lin), rows*f.spec.Dim()/m.c, scale)
	}
	if f.an != nil {
		f.an[k].backward(d, d, lin, rows, scale)
	}
}
