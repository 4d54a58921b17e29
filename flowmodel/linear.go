package flowmodel

import (
	"errors"
	"fmt"
	"math"
)

// linearBase is the optional linear autoregressive layer applied to the data
// before everything else when Spec.LinearBase is set: for every coordinate i
// of the flattened window, in the stack's order (time-major, channels in
// index order),
//
//	u_i = (x_i - m_i - sum_{j<i} L_ij x_j - sum_k B_ik c_k) / d_i,
//	l_i = -log d_i.
//
// It is an affine autoregressive flow layer with a linear conditioner, so
// with the layers above it at the identity the flow is exactly a
// linear-Gaussian autoregression of every coordinate on its past and the
// context. Its Jacobian is lower triangular with the time order, so per-step
// terms stay exact. It is not trained by gradient: FitLinearBase (or Train,
// once, before the first step) sets it in closed form by ridge regression,
// and Train never updates it, so the layers above learn only what the
// linear model misses.
type linearBase struct {
	d, nctx int
	m       []float64 // intercepts, d
	l       []float64 // d x d row-major; only the strict lower triangle is used
	b       []float64 // d x nctx context coefficients
	logd    []float64 // log residual scales, d
	// Derived by prepare while stale is set, which New, Load, Clone and
	// FitLinearBase leave set: whatever changes the parameters must set it.
	stale bool
	inv   []float64 // exp(-logd)
	lt    []float64 // L transposed, d rows of dp (d rounded up to 8) columns
	dp    int
	tile  [32]float64
}

func newLinearBase(d, nctx int) *linearBase {
	dp := (d + panelWidth - 1) / panelWidth * panelWidth
	return &linearBase{d: d, nctx: nctx, inv: make([]float64, d), lt: make([]float64, d*dp),
		dp: dp, stale: true}
}

// size is the number of parameters the base binds.
func (lb *linearBase) size() int { return lb.d + lb.d*lb.d + lb.d*lb.nctx + lb.d }

// prepare rebuilds exp(-logd) and the transposed, padded L that the tile
// kernel reads, if the parameters changed.
func (lb *linearBase) prepare() {
	if !lb.stale {
		return
	}
	d, dp := lb.d, lb.dp
	for i, ld := range lb.logd {
		lb.inv[i] = math.Exp(-ld)
	}
	clear(lb.lt)
	for i := range d {
		for j, v := range lb.l[i*d : i*d+i] {
			lb.lt[j*dp+i] = v
		}
	}
	lb.stale = false
}

// bind takes the parameters; their gradient views are not kept, since the
// base is never trained by gradient and its gradient entries stay zero.
func (lb *linearBase) bind(c *cursor) {
	lb.m, _ = c.take(lb.d)
	lb.l, _ = c.take(lb.d * lb.d)
	lb.b, _ = c.take(lb.d * lb.nctx)
	lb.logd, _ = c.take(lb.d)
}

// predict returns m_i + sum_{j<i} L_ij x_j + sum_k B_ik c_k for one window x
// and its context c.
func (lb *linearBase) predict(i int, x, c []float64) float64 {
	return lb.m[i] + dot(lb.l[i*lb.d:i*lb.d+i], x) + dot(lb.b[i*lb.nctx:i*lb.nctx+lb.nctx], c)
}

// dot returns sum_j a_j b_j over a, with four partial sums so that the
// multiply-adds do not wait on each other.
func dot(a, b []float64) float64 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float64
	j := 0
	for ; j+4 <= len(a); j += 4 {
		s0 += a[j] * b[j]
		s1 += a[j+1] * b[j+1]
		s2 += a[j+2] * b[j+2]
		s3 += a[j+3] * b[j+3]
	}
	for ; j < len(a); j++ {
		s0 += a[j] * b[j]
	}
	return (s0 + s1) + (s2 + s3)
}

// forward writes u for rows windows of x (and c) and adds -log d_i to the
// per-coordinate terms. The products L x run through the tile kernel, four
// windows by eight coordinates at a time (one window for the remainder, with
// the same order of operations, so a score does not depend on the batch).
func (lb *linearBase) forward(u, x, c, terms []float64, rows int) {
	lb.prepare()
	d := lb.d
	for n0 := 0; n0 < rows; n0 += 4 {
		nr := min(4, rows-n0)
		for i0 := 0; i0 < d; i0 += panelWidth {
			// Coordinates i0..i0+7 read the values before i0+7 at most.
			nt := min(i0+panelWidth-1, d)
			if nr == 4 {
				tile4x8(x[n0*d:], d, 1, lb.lt[i0:], lb.dp, nt, &lb.tile)
			} else {
				for r := range nr {
					tile1x8(x[(n0+r)*d:], 1, lb.lt[i0:], lb.dp, nt,
						(*[8]float64)(lb.tile[r*8:r*8+8]))
				}
			}
			for r := range nr {
				lb.finish(u, x, c, terms, n0+r, i0, lb.tile[r*8:r*8+8])
			}
		}
	}
}

// finish completes coordinates i0.. (at most 8) of window n given their
// products with L in lx.
func (lb *linearBase) finish(u, x, c, terms []float64, n, i0 int, lx []float64) {
	d, nc := lb.d, lb.nctx
	k1 := min(panelWidth, d-i0)
	lx = lx[:k1]
	lo, hi := n*d+i0, n*d+i0+k1
	ur, xr, tr := u[lo:hi], x[lo:hi], terms[lo:hi]
	m, inv, logd := lb.m[i0:i0+k1], lb.inv[i0:i0+k1], lb.logd[i0:i0+k1]
	if nc > 0 {
		cr := c[n*nc : n*nc+nc]
		for k := range lx {
			lx[k] += dot(lb.b[(i0+k)*nc:(i0+k+1)*nc], cr)
		}
	}
	for k, v := range lx {
		ur[k] = (xr[k] - (m[k] + v)) * inv[k]
		tr[k] -= logd[k]
	}
}

// backward turns the adjoint du of the output (overwritten) into the input
// adjoint dx when dx is not nil and adds the context adjoint to dc when dc is
// not nil. No parameter gradient is kept.
func (lb *linearBase) backward(dx, dc, du []float64, rows int) {
	d, nc := lb.d, lb.nctx
	lb.prepare()
	for n := range rows {
		g := du[n*d : n*d+d]
		// g_i <- du_i / d_i, the adjoint of the residual of coordinate i.
		for i := range g {
			g[i] *= lb.inv[i]
		}
		if dc != nil {
			dcr := dc[n*nc : n*nc+nc]
			for i, gi := range g {
				for k, v := range lb.b[i*nc : i*nc+nc] {
					dcr[k] -= gi * v
				}
			}
		}
		if dx != nil {
			dxr := dx[n*d : n*d+d]
			copy(dxr, g)
			for i := 1; i < d; i++ {
				for j, v := range lb.l[i*d : i*d+i] {
					dxr[j] -= g[i] * v
				}
			}
		}
	}
}

// inverseAt sets x[:, i] = m_i + sum_{j<i} L_ij x_j + B_i c + d_i u_i for
// rows windows, given x[:, <i].
func (lb *linearBase) inverseAt(x, u, c []float64, rows, i int) {
	d, nc := lb.d, lb.nctx
	s := math.Exp(lb.logd[i])
	for n := range rows {
		xr := x[n*d : n*d+d]
		xr[i] = lb.predict(i, xr, c[n*nc:n*nc+nc]) + s*u[n*d+i]
	}
}

// checkTriangle rejects a base with a coefficient on a value that does not
// come before its own coordinate: it would break the autoregressive order.
func (lb *linearBase) checkTriangle() error {
	for i := range lb.d {
		for j := i; j < lb.d; j++ {
			if lb.l[i*lb.d+j] != 0 {
				return fmt.Errorf("%w: linear base coefficient (%d, %d) above the diagonal",
					ErrCorrupt, i, j)
			}
		}
	}
	return nil
}

// DefaultLinearRidge is the ridge penalty of FitLinearBase that
// TrainOptions.LinearRidge defaults to.
const DefaultLinearRidge = 1e-3

// linearMinScale floors every residual scale d_i at this fraction of the
// data's scale, so that a noise-free series does not turn a rounding error
// into an infinite surprise.
const linearMinScale = 1e-3

// FitLinearBase sets the linear base of f (Spec.LinearBase) in closed form
// from the training windows in data: for every coordinate i, in the stack's
// order, a ridge regression of x_i on the values before it, the context and
// an unpenalised intercept, minimising
//
//	mean_n (x_n,i - m_i - L_i . x_n,<i - B_i . c_n)^2 + ridge * s^2 * |(L_i, B_i)|^2,
//
// where s^2 is the mean variance of the window's coordinates (the data's
// scale, 1 for a constant data set), and d_i is the root mean squared
// residual, floored at 1e-3 s. The regressions share one Cholesky
// factorisation of the penalised covariance of (c, x), so the cost is
// O(rows (C_ctx + W C)^2 + (C_ctx + W C)^3).
//
// Train calls it with TrainOptions.LinearRidge before the first step when
// the base was never set; after it, Train leaves the base alone, and Save
// records that it was set. A ridge below zero, a flow without a linear base
// and an empty data set are errors; wrong widths panic with ErrShape.
func FitLinearBase(f *Flow, data Data, ridge float64) error {
	rows := f.checkBatch(data.X, data.Context)
	lb := f.lin
	switch {
	case lb == nil:
		return errors.New("flowmodel: fit linear base: the spec has no linear base")
	case rows == 0:
		return errors.New("flowmodel: fit linear base: no data")
	case !(ridge >= 0) || math.IsInf(ridge, 0):
		return fmt.Errorf("flowmodel: fit linear base: ridge %v out of range", ridge)
	}
	d, nc := lb.d, lb.nctx
	p := nc + d
	// Features of row n in regression order: the context, then the window.
	feat := func(dst []float64, n int) {
		copy(dst, data.Context[n*nc:n*nc+nc])
		copy(dst[nc:], data.X[n*d:n*d+d])
	}
	v := make([]float64, p)
	mean := make([]float64, p)
	for n := range rows {
		feat(v, n)
		for j, x := range v {
			mean[j] += x
		}
	}
	for j := range mean {
		mean[j] /= float64(rows)
	}
	cov := make([]float64, p*p) // lower triangle of the centred covariance
	for n := range rows {
		feat(v, n)
		for j := range v {
			v[j] -= mean[j]
		}
		for a := range p {
			row := cov[a*p : a*p+a+1]
			for b := range row {
				row[b] += v[a] * v[b]
			}
		}
	}
	var scale2 float64
	for a := range p {
		for b := 0; b <= a; b++ {
			cov[a*p+b] /= float64(rows)
		}
		if a >= nc {
			scale2 += cov[a*p+a]
		}
	}
	scale2 /= float64(d)
	if !(scale2 > 0) || math.IsInf(scale2, 0) {
		if math.IsNaN(scale2) || math.IsInf(scale2, 0) {
			return fmt.Errorf("%w: fit linear base: data", ErrNonFinite)
		}
		scale2 = 1
	}
	// A tiny extra jitter keeps the factorisation defined at ridge 0 when a
	// feature is constant or collinear.
	for a := range p {
		cov[a*p+a] += (ridge + 1e-12) * scale2
	}
	r, err := cholesky(cov, p)
	if err != nil {
		return fmt.Errorf("flowmodel: fit linear base: %w", err)
	}
	beta := make([]float64, p)
	floor := linearMinScale * math.Sqrt(scale2)
	for i := range d {
		q := nc + i
		// The penalised normal equations of coordinate i are the leading
		// q x q block of cov with right-hand side cov[q, :q]; with cov = R R^T
		// their solution is R[:q,:q]^-T R[q, :q].
		beta := beta[:q]
		copy(beta, r[q*p:q*p+q])
		for a := q - 1; a >= 0; a-- {
			s := beta[a]
			for b := a + 1; b < q; b++ {
				s -= r[b*p+a] * beta[b]
			}
			beta[a] = s / r[a*p+a]
		}
		lb.m[i] = mean[q]
		for a, bv := range beta {
			lb.m[i] -= bv * mean[a]
		}
		copy(lb.b[i*nc:i*nc+nc], beta[:nc])
		row := lb.l[i*d : i*d+d]
		clear(row)
		copy(row, beta[nc:])
		var ss float64
		for n := range rows {
			e := data.X[n*d+i] - lb.predict(i, data.X[n*d:n*d+d], data.Context[n*nc:n*nc+nc])
			ss += e * e
		}
		sd := math.Max(math.Sqrt(ss/float64(rows)), floor)
		if math.IsNaN(sd) || math.IsInf(sd, 0) {
			return fmt.Errorf("%w: fit linear base: coordinate %d", ErrNonFinite, i)
		}
		lb.logd[i] = math.Log(sd)
	}
	lb.stale = true
	f.linFit = true
	return nil
}

// cholesky returns the lower factor R of the symmetric positive definite
// p x p matrix a (row-major, lower triangle read), a = R R^T.
func cholesky(a []float64, p int) ([]float64, error) {
	r := make([]float64, p*p)
	for i := range p {
		for j := 0; j <= i; j++ {
			s := a[i*p+j]
			for k := range j {
				s -= r[i*p+k] * r[j*p+k]
			}
			if i == j {
				if !(s > 0) || math.IsInf(s, 0) {
					return nil, fmt.Errorf("covariance not positive definite at %d", i)
				}
				r[i*p+i] = math.Sqrt(s)
				continue
			}
			r[i*p+j] = s / r[j*p+j]
		}
	}
	return r, nil
}
