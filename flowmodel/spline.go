package flowmodel

import "math"

// Rational-quadratic spline constants (Durkan et al., Neural Spline Flows,
// arXiv:1906.04032; flow-math section 7): minimum bin width, height and
// interior derivative, and the largest number of bins a spec may ask for.
const (
	splineMinWidth  = 1e-3
	splineMinHeight = 1e-3
	splineMinDeriv  = 1e-3
	maxBins         = 64
)

// splineDerivOffset is added to the derivative logits so that zero logits
// give derivative 1 and, with uniform bins, the identity map (flow-math
// section 7.5): softplus(offset) = 1 - splineMinDeriv.
var splineDerivOffset = math.Log(math.Expm1(1 - splineMinDeriv))

// rqs evaluates one monotone rational-quadratic spline with identity tails
// outside [-B, B]. Its K bin widths and heights are softmaxes of logits
// (floored at the minimum width and height), its K-1 interior knot
// derivatives softplus of logits (floored at the minimum derivative), and the
// derivatives at -B and B are 1 to match the tails.
//
// Within bin k, with xi = (x - x_k)/dx, s = dy/dx, q = xi(1 - xi):
//
//	y = y_k + dy (s xi^2 + d_k q) / (s + (d_k + d_k+1 - 2s) q)
//	dy/dx = s^2 (d_k+1 xi^2 + 2 s q + d_k (1-xi)^2) / (s + (d_k + d_k+1 - 2s) q)^2
type rqs struct {
	k    int
	b    float64
	ww   [maxBins]float64 // softmax of the width logits
	wh   [maxBins]float64 // softmax of the height logits
	xk   [maxBins + 1]float64
	yk   [maxBins + 1]float64
	td   [maxBins]float64 // derivative logits of the current element
	d, i int              // coordinates per row, the loaded coordinate
	row  []float64        // the prepared conditioner output row
	ew   []float64        // width exps (K*d) then height exps (K*d)
	sum  []float64        // sums of the width and height exps per coordinate
	ed   []float64        // exp(-|t + offset|) of the derivative logits ((K-1)*d)
	dv   []float64        // the interior knot derivatives ((K-1)*d)
	args []float64        // per coordinate: the argument of the log-derivative
	gxk  [maxBins + 1]float64
	gyk  [maxBins + 1]float64
	gtmp [maxBins]float64
}

// prepare computes, for every coordinate of one conditioner output row
// (laid out parameter-major: value p of coordinate i at p*d + i), the
// softmaxes of the width and height logits with the vectorised exp. It must
// precede load for the coordinates of that row.
func (s *rqs) prepare(row []float64, d int) {
	k := s.k
	n := k * d
	if cap(s.ew) < 2*n {
		s.ew = make([]float64, 2*n)
		s.sum = make([]float64, 2*d)
	}
	s.ew, s.sum = s.ew[:2*n], s.sum[:2*d]
	// Softmax needs no shift while every logit of the row lies in
	// [-softmaxRange, softmaxRange]: no exponential or sum can then
	// overflow or vanish. The test is per row, so a window's result does not
	// depend on the rest of its batch.
	shift := false
	for _, v := range row[:2*n] {
		// Written so that NaN also takes the careful path.
		if !(v >= -softmaxRange && v <= softmaxRange) {
			shift = true
			break
		}
	}
	for b := range 2 {
		logits, e, sum := row[b*n:(b+1)*n], s.ew[b*n:(b+1)*n], s.sum[b*d:(b+1)*d]
		if shift {
			shiftByMax(e, logits, sum, k, d)
			vexp(e, e)
		} else {
			vexp(e, logits)
		}
		copy(sum, e[:d])
		for j := 1; j < k; j++ {
			for i, v := range e[j*d : (j+1)*d] {
				sum[i] += v
			}
		}
	}
	// exp(-|t + offset|) of every derivative logit, then the interior knot
	// derivatives minDeriv + softplus(t + offset), all vectorised; log(1 +
	// e) loses relative precision only where e < 1e-8, where it adds less
	// than 1e-16 to the derivative.
	td := row[2*n : 2*n+(k-1)*d]
	if cap(s.ed) < len(td) {
		s.ed = make([]float64, len(td))
		s.dv = make([]float64, len(td))
		s.args = make([]float64, d)
	}
	s.ed, s.dv, s.args = s.ed[:len(td)], s.dv[:len(td)], s.args[:d]
	for j, v := range td {
		s.ed[j] = -math.Abs(v + splineDerivOffset)
	}
	vexp(s.ed, s.ed)
	for j, e := range s.ed {
		s.dv[j] = 1 + e
	}
	vlog(s.dv, s.dv)
	for j, v := range td {
		s.dv[j] += splineMinDeriv + reluOf(v+splineDerivOffset)
	}
	s.d = d
	s.row = row
}

// softmaxRange bounds the logits prepare exponentiates without shifting:
// 64 bins of e^600 stay far below the float64 maximum, e^-600 far above
// the smallest normal number.
const softmaxRange = 600

// shiftByMax sets e[j*d+i] = logits[j*d+i] - max_j logits[j*d+i], using m
// (d values) as scratch.
func shiftByMax(e, logits, m []float64, k, d int) {
	copy(m, logits[:d])
	for j := 1; j < k; j++ {
		for i, v := range logits[j*d : (j+1)*d] {
			if v > m[i] {
				m[i] = v
			}
		}
	}
	for j := range k {
		for i, v := range logits[j*d : (j+1)*d] {
			e[j*d+i] = v - m[i]
		}
	}
}

// load builds the knots of coordinate i of the prepared row.
func (s *rqs) load(i int) {
	k, d := s.k, s.d
	s.i = i
	for j := range k - 1 {
		s.td[j] = s.row[(2*k+j)*d+i]
	}
	s.knots(s.ew[:k*d], s.sum[i], s.ww[:k], s.xk[:k+1], splineMinWidth, i)
	s.knots(s.ew[k*d:], s.sum[d+i], s.wh[:k], s.yk[:k+1], splineMinHeight, i)
}

// knots sets w to the softmax of coordinate i (exps e[j*d+i], their sum) and
// the knot positions -B + 2B sum_{j<k} (minw + (1 - K minw) w_j), with the
// last knot exactly B.
func (s *rqs) knots(e []float64, sum float64, w, knot []float64, minw float64, i int) {
	scale := 1 - float64(len(w))*minw
	inv := 1 / sum
	knot[0] = -s.b
	acc := 0.0
	for j := range w {
		w[j] = e[j*s.d+i] * inv
		acc += minw + scale*w[j]
		knot[j+1] = -s.b + 2*s.b*acc
	}
	knot[len(w)] = s.b
}

// deriv returns the knot derivative at knot j (1 at both ends) of
// coordinate i.
func (s *rqs) deriv(j, i int) float64 {
	if j == 0 || j == s.k {
		return 1
	}
	return s.dv[(j-1)*s.d+i]
}

// sigmoidAt returns the sigmoid of derivative logit j-1 plus the offset,
// the derivative of its softplus, from the same exponential.
func (s *rqs) sigmoidAt(j, i int) float64 {
	e := s.ed[(j-1)*s.d+i]
	if s.td[j-1]+splineDerivOffset >= 0 {
		return 1 / (1 + e)
	}
	return e / (1 + e)
}

// bin returns the bin of v among knots (clamped to [0, K-1]).
func (s *rqs) bin(knot []float64, v float64) int {
	lo, hi := 0, s.k-1
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if knot[mid] <= v {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}

// forward maps x (density direction) and returns y and log dy/dx.
func (s *rqs) forward(x float64) (y, ld float64) {
	y, arg := s.forwardArg(x)
	return y, logGo(arg)
}

// forwardArg maps x and returns y and dy/dx, whose logarithm is the
// log-derivative: 1 (log 0) in the identity tails, where NaN also passes.
func (s *rqs) forwardArg(x float64) (y, arg float64) {
	if !(x > -s.b && x < s.b) {
		return x, 1
	}
	k := s.bin(s.xk[:s.k+1], x)
	dx, dy := s.xk[k+1]-s.xk[k], s.yk[k+1]-s.yk[k]
	sl := dy / dx
	xi := (x - s.xk[k]) / dx
	q := xi * (1 - xi)
	d0, d1 := s.deriv(k, s.i), s.deriv(k+1, s.i)
	beta := sl + (d0+d1-2*sl)*q
	n := sl*xi*xi + d0*q
	m := d1*xi*xi + 2*sl*q + d0*(1-xi)*(1-xi)
	return s.yk[k] + dy*n/beta, sl * sl * m / (beta * beta)
}

// inverse maps y back to x, solving the bin's quadratic in its stable form
// (flow-math section 7.3).
func (s *rqs) inverse(y float64) float64 {
	if !(y > -s.b && y < s.b) {
		return y
	}
	k := s.bin(s.yk[:s.k+1], y)
	dx, dy := s.xk[k+1]-s.xk[k], s.yk[k+1]-s.yk[k]
	sl := dy / dx
	d0, d1 := s.deriv(k, s.i), s.deriv(k+1, s.i)
	r := y - s.yk[k]
	d2 := d0 + d1 - 2*sl
	e2 := dy*(sl-d0) + r*d2
	e1 := dy*d0 - r*d2
	e0 := -sl * r
	disc := math.Max(e1*e1-4*e2*e0, 0)
	xi := 2 * e0 / (-e1 - math.Sqrt(disc))
	xi = math.Min(math.Max(xi, 0), 1)
	return s.xk[k] + xi*dx
}

// backward takes the adjoints gy of y and gl of log dy/dx at x, writes the
// adjoints of the element's logits into row (same layout as load, added)
// and returns the adjoint of x (flow-math section 7.4).
func (s *rqs) backward(x, gy, gl float64, grow []float64, d, i int) float64 {
	if !(x > -s.b && x < s.b) {
		return gy
	}
	K := s.k
	k := s.bin(s.xk[:K+1], x)
	dx, dy := s.xk[k+1]-s.xk[k], s.yk[k+1]-s.yk[k]
	sl := dy / dx
	xi := (x - s.xk[k]) / dx
	q := xi * (1 - xi)
	d0, d1 := s.deriv(k, s.i), s.deriv(k+1, s.i)
	d2 := d0 + d1 - 2*sl
	beta := sl + d2*q
	n := sl*xi*xi + d0*q
	m := d1*xi*xi + 2*sl*q + d0*(1-xi)*(1-xi)
	b2 := beta * beta

	np := 2*sl*xi + d0*(1-2*xi)
	bp := d2 * (1 - 2*xi)
	mp := 2*d1*xi + 2*sl*(1-2*xi) - 2*d0*(1-xi)
	gxi := gy*dy*(np*beta-n*bp)/b2 + gl*(mp/m-2*bp/beta)
	gs := gy*dy*(xi*xi*beta-n*(1-2*q))/b2 + gl*(2/sl+2*q/m-2*(1-2*q)/beta)
	gd0 := gy*dy*q*(beta-n)/b2 + gl*((1-xi)*(1-xi)/m-2*q/beta)
	gd1 := -gy*dy*n*q/b2 + gl*(xi*xi/m-2*q/beta)

	clear(s.gxk[:K+1])
	clear(s.gyk[:K+1])
	s.gxk[k] -= gxi / dx
	gdx := -gxi*xi/dx - gs*sl/dx
	s.gyk[k] += gy
	gdy := gy*n/beta + gs/dx
	s.gxk[k+1] += gdx
	s.gxk[k] -= gdx
	s.gyk[k+1] += gdy
	s.gyk[k] -= gdy
	s.knotsBackward(s.gxk[:K+1], s.ww[:K], grow, 0, d, i, splineMinWidth)
	s.knotsBackward(s.gyk[:K+1], s.wh[:K], grow, K, d, i, splineMinHeight)
	if k > 0 {
		grow[(2*K+k-1)*d+i] += gd0 * s.sigmoidAt(k, i)
	}
	if k < K-1 {
		grow[(2*K+k)*d+i] += gd1 * s.sigmoidAt(k+1, i)
	}
	return gxi / dx
}

// knotsBackward turns knot adjoints into logit adjoints: through the
// cumulative sum (interior knots only; the end knots are constants) and the
// softmax. p0 is the first parameter index of these logits.
func (s *rqs) knotsBackward(gknot, w, grow []float64, p0, d, i int, minw float64) {
	K := len(w)
	g := s.gtmp[:K]
	acc := 0.0
	for j := K - 1; j >= 0; j-- {
		g[j] = 2 * s.b * acc // sum of adjoints of knots j+1..K-1
		if j >= 1 {
			acc += gknot[j]
		}
	}
	var dot float64
	for j, v := range w {
		dot += v * g[j]
	}
	scale := 1 - float64(K)*minw
	for j, v := range w {
		grow[(p0+j)*d+i] += scale * v * (g[j] - dot)
	}
}
