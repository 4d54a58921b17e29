package flowmodel

import "math"

// luMix is an invertible C x C linear map applied to the channels of every
// step, parameterised by its LU decomposition as Glow's invertible 1x1
// convolution (Kingma and Dhariwal, arXiv:1807.03039, section 3.2; flow-math
// section 6) with the permutation fixed to the identity:
//
//	y_t = L (U + diag(exp(lambda))) x_t + b,   log|det| = sum_i lambda_i,
//
// with L unit lower triangular and U strictly upper triangular. The same map
// at every step keeps the time order at the step level: step t of the output
// depends on step t of the input only, so per-step terms stay exact (the
// step's log-determinant is split as lambda_i on channel i, and only step
// sums are meaningful). Spec.ChannelMixing puts one before every flow layer;
// Spec.WindowMixing puts one of size W*C, over the whole window, instead.
// It starts as the identity.
type luMix struct {
	c              int
	lo, up, lam, b []float64 // strict lower and upper entries row-major, log-diagonal, bias
	glo, gup, glam []float64
	gb             []float64
	v              []float64 // scratch, c values
	vbar           []float64
}

func newLUMix(c int) *luMix {
	return &luMix{c: c, v: make([]float64, c), vbar: make([]float64, c)}
}

func (m *luMix) bind(cur *cursor) {
	n := m.c * (m.c - 1) / 2
	m.lo, m.glo = cur.take(n)
	m.up, m.gup = cur.take(n)
	m.lam, m.glam = cur.take(m.c)
	m.b, m.gb = cur.take(m.c)
}

// lowerAt and upperAt index the compact triangles: L[i][j], j < i, and
// U[i][j], j > i.
func lowerAt(i, j int) int    { return i*(i-1)/2 + j }
func upperAt(c, i, j int) int { return i*(2*c-i-1)/2 + (j - i - 1) }

// forward maps every step of rows windows of w steps and adds lambda_i to
// the terms of channel i.
func (m *luMix) forward(y, x, terms []float64, steps int) {
	c := m.c
	for s := range steps {
		xs, ys, ts := x[s*c:s*c+c], y[s*c:s*c+c], terms[s*c:s*c+c]
		m.apply(ys, xs)
		for i, l := range m.lam {
			ts[i] += l
		}
	}
}

// apply sets y = L (U + diag(d)) x + b for one step, leaving v = (U + D) x
// in m.v.
func (m *luMix) apply(y, x []float64) {
	c, v := m.c, m.v
	for i := range c {
		s := math.Exp(m.lam[i]) * x[i]
		for j := i + 1; j < c; j++ {
			s += m.up[upperAt(c, i, j)] * x[j]
		}
		v[i] = s
	}
	for i := range c {
		s := v[i]
		for j := range i {
			s += m.lo[lowerAt(i, j)] * v[j]
		}
		y[i] = s + m.b[i]
	}
}

// backward overwrites dy with the input adjoint (dx may alias dy) and
// accumulates the parameter gradients; every log-determinant term has
// adjoint -scale.
func (m *luMix) backward(dx, dy, x []float64, steps int, scale float64) {
	c, v, vb := m.c, m.v, m.vbar
	for s := range steps {
		xs, ws := x[s*c:s*c+c], dy[s*c:s*c+c]
		m.apply(vb, xs) // refreshes m.v; vb is overwritten below
		for i := range c {
			m.gb[i] += ws[i]
			for j := range i {
				m.glo[lowerAt(i, j)] += ws[i] * v[j]
			}
		}
		for j := range c {
			s := ws[j]
			for i := j + 1; i < c; i++ {
				s += m.lo[lowerAt(i, j)] * ws[i]
			}
			vb[j] = s
		}
		out := dx[s*c : s*c+c]
		for i := range c {
			d := math.Exp(m.lam[i])
			m.glam[i] += vb[i]*d*xs[i] - scale
			for j := i + 1; j < c; j++ {
				m.gup[upperAt(c, i, j)] += vb[i] * xs[j]
			}
		}
		for j := range c {
			s := math.Exp(m.lam[j]) * vb[j]
			for i := range j {
				s += m.up[upperAt(c, i, j)] * vb[i]
			}
			out[j] = s
		}
	}
}

// inverseStep sets x = (U + D)^-1 L^-1 (y - b) for one step.
func (m *luMix) inverseStep(x, y []float64) {
	c, v := m.c, m.v
	for i := range c {
		s := y[i] - m.b[i]
		for j := range i {
			s -= m.lo[lowerAt(i, j)] * v[j]
		}
		v[i] = s
	}
	for i := c - 1; i >= 0; i-- {
		s := v[i]
		for j := i + 1; j < c; j++ {
			s -= m.up[upperAt(c, i, j)] * x[j]
		}
		x[i] = s * math.Exp(-m.lam[i])
	}
}
