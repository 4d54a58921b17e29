package flowmodel

// maskedDense is one MADE layer, y = (W ⊙ M) x + b, stored so that the
// kernels skip the masked zeros. With sorted degrees the inputs an output may
// read form one contiguous column range [lo[k], hi[k]), so W is kept dense
// (out x in, row-major, exact zeros outside the ranges) and every loop runs
// over the range only. Outputs are processed in pairs over the union of
// their two ranges; the extra entries are stored zeros, so the result is the
// same as the exact range would give for finite inputs.
//
// w, b, gw and gb are views into the flow's flat parameter and gradient
// vectors.
type maskedDense struct {
	in, out int
	w, b    []float64
	gw, gb  []float64
	lo, hi  []int
	pairs   []span
}

type span struct{ lo, hi int }

// setRanges derives the column ranges from an allow predicate and panics if
// an allowed set is not contiguous: that would be a bug in degree assignment.
func (l *maskedDense) setRanges(allow func(k, j int) bool) {
	l.lo = make([]int, l.out)
	l.hi = make([]int, l.out)
	for k := range l.out {
		lo, hi := -1, -1
		for j := range l.in {
			if !allow(k, j) {
				continue
			}
			if lo < 0 {
				lo = j
			} else if hi != j {
				panic("flowmodel: internal error: mask row is not contiguous")
			}
			hi = j + 1
		}
		if lo < 0 {
			lo, hi = 0, 0
		}
		l.lo[k], l.hi[k] = lo, hi
	}
	l.pairs = make([]span, l.out/2)
	for p := range l.pairs {
		k := 2 * p
		l.pairs[p] = unionSpan(span{l.lo[k], l.hi[k]}, span{l.lo[k+1], l.hi[k+1]})
	}
}

func unionSpan(a, b span) span {
	if a.lo == a.hi {
		return b
	}
	if b.lo == b.hi {
		return a
	}
	return span{min(a.lo, b.lo), max(a.hi, b.hi)}
}

// allowed reports whether weight (k, j) is outside the mask's zeros.
func (l *maskedDense) allowed(k, j int) bool { return j >= l.lo[k] && j < l.hi[k] }

// nonzero returns the number of unmasked weights.
func (l *maskedDense) nonzero() int {
	n := 0
	for k := range l.out {
		n += l.hi[k] - l.lo[k]
	}
	return n
}

// forward sets dst[n, k] = b[k] + sum_j w[k, j] src[n, j] for rows rows.
// The accumulation order of an output does not depend on the row's position
// in the batch, so a window scores bit-identically alone or in any batch.
func (l *maskedDense) forward(dst, src []float64, rows int) {
	in, out, w, b := l.in, l.out, l.w, l.b
	n := 0
	for ; n+4 <= rows; n += 4 {
		x0 := src[n*in : n*in+in]
		x1 := src[(n+1)*in : (n+1)*in+in]
		x2 := src[(n+2)*in : (n+2)*in+in]
		x3 := src[(n+3)*in : (n+3)*in+in]
		y0 := dst[n*out : n*out+out]
		y1 := dst[(n+1)*out : (n+1)*out+out]
		y2 := dst[(n+2)*out : (n+2)*out+out]
		y3 := dst[(n+3)*out : (n+3)*out+out]
		for p, s := range l.pairs {
			k := 2 * p
			w0 := w[k*in+s.lo : k*in+s.hi]
			w1 := w[(k+1)*in+s.lo : (k+1)*in+s.hi]
			a0, a1, a2, a3 := x0[s.lo:s.hi], x1[s.lo:s.hi], x2[s.lo:s.hi], x3[s.lo:s.hi]
			w1 = w1[:len(w0)]
			a0, a1, a2, a3 = a0[:len(w0)], a1[:len(w0)], a2[:len(w0)], a3[:len(w0)]
			var c00, c01, c10, c11, c20, c21, c30, c31 float64
			for j, v0 := range w0 {
				v1 := w1[j]
				c00 += a0[j] * v0
				c01 += a0[j] * v1
				c10 += a1[j] * v0
				c11 += a1[j] * v1
				c20 += a2[j] * v0
				c21 += a2[j] * v1
				c30 += a3[j] * v0
				c31 += a3[j] * v1
			}
			y0[k], y0[k+1] = c00+b[k], c01+b[k+1]
			y1[k], y1[k+1] = c10+b[k], c11+b[k+1]
			y2[k], y2[k+1] = c20+b[k], c21+b[k+1]
			y3[k], y3[k+1] = c30+b[k], c31+b[k+1]
		}
		if out%2 == 1 {
			k := out - 1
			y0[k] = dotRange(w[k*in:k*in+in], x0, l.lo[k], l.hi[k]) + b[k]
			y1[k] = dotRange(w[k*in:k*in+in], x1, l.lo[k], l.hi[k]) + b[k]
			y2[k] = dotRange(w[k*in:k*in+in], x2, l.lo[k], l.hi[k]) + b[k]
			y3[k] = dotRange(w[k*in:k*in+in], x3, l.lo[k], l.hi[k]) + b[k]
		}
	}
	for ; n < rows; n++ {
		x0 := src[n*in : n*in+in]
		y0 := dst[n*out : n*out+out]
		for p, s := range l.pairs {
			k := 2 * p
			w0 := w[k*in+s.lo : k*in+s.hi]
			w1 := w[(k+1)*in+s.lo : (k+1)*in+s.hi]
			a0 := x0[s.lo:s.hi]
			w1, a0 = w1[:len(w0)], a0[:len(w0)]
			var c00, c01 float64
			for j, v0 := range w0 {
				c00 += a0[j] * v0
				c01 += a0[j] * w1[j]
			}
			y0[k], y0[k+1] = c00+b[k], c01+b[k+1]
		}
		if out%2 == 1 {
			k := out - 1
			y0[k] = dotRange(w[k*in:k*in+in], x0, l.lo[k], l.hi[k]) + b[k]
		}
	}
}

func dotRange(w, x []float64, lo, hi int) float64 {
	w, x = w[lo:hi], x[lo:hi]
	x = x[:len(w)]
	var c float64
	for j, v := range w {
		c += x[j] * v
	}
	return c
}

// backwardInput adds dsrc[n, j] += sum_k ddst[n, k] w[k, j].
func (l *maskedDense) backwardInput(dsrc, ddst []float64, rows int) {
	in, out, w := l.in, l.out, l.w
	for n := range rows {
		dx := dsrc[n*in : n*in+in]
		dy := ddst[n*out : n*out+out]
		for p, s := range l.pairs {
			k := 2 * p
			d0, d1 := dy[k], dy[k+1]
			if d0 == 0 && d1 == 0 {
				continue
			}
			w0 := w[k*in+s.lo : k*in+s.hi]
			w1 := w[(k+1)*in+s.lo : (k+1)*in+s.hi]
			a := dx[s.lo:s.hi]
			w1, a = w1[:len(w0)], a[:len(w0)]
			for j, v0 := range w0 {
				a[j] += d0*v0 + d1*w1[j]
			}
		}
		if out%2 == 1 {
			k := out - 1
			d0 := dy[k]
			w0 := w[k*in+l.lo[k] : k*in+l.hi[k]]
			a := dx[l.lo[k]:l.hi[k]]
			a = a[:len(w0)]
			for j, v0 := range w0 {
				a[j] += d0 * v0
			}
		}
	}
}

// backwardParams accumulates gw[k, j] += sum_n ddst[n, k] src[n, j] inside
// the mask only (masked gradients stay exactly zero, so Adam's moments and
// weight decay leave masked weights at zero) and gb[k] += sum_n ddst[n, k].
func (l *maskedDense) backwardParams(ddst, src []float64, rows int) {
	in, out := l.in, l.out
	for k := range out {
		lo, hi := l.lo[k], l.hi[k]
		g := l.gw[k*in+lo : k*in+hi]
		var gb float64
		n := 0
		for ; n+4 <= rows; n += 4 {
			d0, d1 := ddst[n*out+k], ddst[(n+1)*out+k]
			d2, d3 := ddst[(n+2)*out+k], ddst[(n+3)*out+k]
			gb += d0 + d1 + d2 + d3
			if d0 == 0 && d1 == 0 && d2 == 0 && d3 == 0 {
				continue
			}
			x0 := src[n*in+lo : n*in+hi]
			x1 := src[(n+1)*in+lo : (n+1)*in+hi]
			x2 := src[(n+2)*in+lo : (n+2)*in+hi]
			x3 := src[(n+3)*in+lo : (n+3)*in+hi]
			x0, x1, x2, x3 = x0[:len(g)], x1[:len(g)], x2[:len(g)], x3[:len(g)]
			for j := range g {
				g[j] += d0*x0[j] + d1*x1[j] + d2*x2[j] + d3*x3[j]
			}
		}
		for ; n < rows; n++ {
			d0 := ddst[n*out+k]
			gb += d0
			x0 := src[n*in+lo : n*in+hi]
			x0 = x0[:len(g)]
			for j := range g {
				g[j] += d0 * x0[j]
			}
		}
		l.gb[k] += gb
	}
}
