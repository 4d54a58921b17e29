package flowmodel

import (
	"math"
	"slices"
)

// made is a masked autoregressive conditioner (Germain et al., MADE,
// arXiv:1502.03509) with p outputs per input variable, laid out
// parameter-major: output p*d + i belongs to variable i.
//
// Degrees. Input i has degree m0[i] in 1..g (a variable order when the
// degrees are a permutation of 1..d; g = 2 gives a coupling layer); the
// context has degree 0 (Paige and Wood, arXiv:1602.06701). Hidden unit k of
// every hidden layer has the degree
//
//	mh[k] = lo + floor(k * (g - lo) / h),   lo = 0 with a context, else 1,
//
// which is sorted and contains every degree lo..g-1. Connections follow the
// MADE rules: a hidden unit reads inputs and hidden units of degree <= its
// own, an output of variable i reads hidden units of degree < m0[i]. Sorted
// degrees make every mask row a contiguous range, which maskedDense exploits.
// The context enters the first layer densely, so through the degree-0 units
// it reaches every output, the first variable's included.
//
// Two shapes: plain (hidden layers h' = act(W h + b)), and residual (Nash and
// Durkan, arXiv:1904.05626): s0 = W x + V c + b, then blocks
// s <- s + W2 act(W1 act(s) + b1) + b2, both masked with the same degrees on
// both sides so the skip cannot leak, and the output layer reads s.
type made struct {
	d, h, nctx, p int
	tanh          bool
	residual      bool
	m0            []int // input degrees
	mh            []int // hidden degrees
	first         *maskedDense
	v, gv         []float64 // h x nctx context weights and their gradient
	mid           []*maskedDense
	last          *maskedDense
	all           []*maskedDense // first, mid..., last
}

// madeCache holds one conditioner pass. Plain: hs[l] is hidden layer l after
// its activation. Residual: hs[3b] is the stream s_b, hs[3b+1] = act(s_b),
// hs[3b+2] the block's inner activation, hs[3B] the final stream.
type madeCache struct {
	hs  [][]float64
	out []float64
}

func newMADE(s Spec, m0 []int, p int) *made {
	d, h := len(m0), s.Hidden
	m := &made{
		d: d, h: h, nctx: s.Context, p: p,
		tanh:     s.Activation == ActTanh,
		residual: s.ResidualBlocks > 0,
		m0:       m0,
	}
	lo, g := 1, slices.Max(m0)
	if s.Context > 0 {
		lo = 0
	}
	m.mh = make([]int, h)
	for k := range h {
		m.mh[k] = lo + k*(g-lo)/h
	}
	m.first = &maskedDense{in: d, out: h}
	m.first.setRanges(func(k, j int) bool { return m0[j] <= m.mh[k] })
	nmid := s.HiddenLayers - 1
	if m.residual {
		nmid = 2 * s.ResidualBlocks
	}
	for range nmid {
		l := &maskedDense{in: h, out: h}
		l.setRanges(func(k, j int) bool { return m.mh[j] <= m.mh[k] })
		m.mid = append(m.mid, l)
	}
	m.last = &maskedDense{in: h, out: p * d}
	m.last.setRanges(func(k, j int) bool { return m.mh[j] < m0[k%d] })
	m.all = append(append([]*maskedDense{m.first}, m.mid...), m.last)
	return m
}

func (m *made) dense() []*maskedDense { return m.all }

// bind hands the layer views of the flat parameter and gradient vectors.
func (m *made) bind(c *cursor) {
	for _, l := range m.dense() {
		l.w, l.gw = c.take(len(l.mask))
		l.b, l.gb = c.take(l.out)
	}
	m.v, m.gv = c.take(m.h * m.nctx)
}

// init draws weights uniformly in +-1/sqrt(fan-in) (PyTorch's default for
// dense layers) and sets the output layer and the second layer of every
// residual block to +-1e-3, so each flow layer starts near the identity
// (flow-math section 3.4, 2.5).
func (m *made) init(rng func() float64) {
	fill := func(x []float64, bound float64) {
		for i := range x {
			x[i] = bound * (2*rng() - 1)
		}
	}
	for i, l := range m.dense() {
		fan := float64(l.in)
		if i == 0 {
			fan += float64(m.nctx)
		}
		bound := 1 / math.Sqrt(fan)
		isLast := l == m.last
		isResOut := m.residual && i > 0 && !isLast && i%2 == 0
		if isLast || isResOut {
			bound = 1e-3
		}
		for i, ok := range l.mask {
			l.w[i] = 0
			if ok {
				l.w[i] = bound * (2*rng() - 1)
			}
		}
		if isLast || isResOut {
			clear(l.b)
		} else {
			fill(l.b, bound)
		}
	}
	fill(m.v, 1/math.Sqrt(float64(m.d+m.nctx)))
}

func (m *made) newCache(rows int) madeCache {
	n := len(m.mid) + 1
	if m.residual {
		n = 3*(len(m.mid)/2) + 1
	}
	mc := madeCache{hs: make([][]float64, n), out: make([]float64, rows*m.p*m.d+panelWidth)}
	for i := range mc.hs {
		mc.hs[i] = make([]float64, rows*m.h+panelWidth)
	}
	return mc
}

func (m *made) activate(y []float64) {
	if m.tanh {
		for i, v := range y {
			y[i] = math.Tanh(v)
		}
		return
	}
	for i, v := range y {
		y[i] = reluOf(v)
	}
}

// reluOf is max(v, 0) without a branch: the sign of pre-activations is close
// to a coin flip, and mispredicted branches cost more than the arithmetic.
func reluOf(v float64) float64 {
	b := math.Float64bits(v)
	return math.Float64frombits(b &^ uint64(int64(b)>>63))
}

// gradAct multiplies dy by act'(a) written through y = act(a).
func (m *made) gradAct(dy, y []float64) {
	y = y[:len(dy)]
	if m.tanh {
		for i, v := range y {
			dy[i] *= 1 - v*v
		}
		return
	}
	for i, v := range y {
		// A conditional move, not a branch: see reluOf.
		keep := uint64(0)
		if v > 0 {
			keep = ^keep
		}
		dy[i] = math.Float64frombits(math.Float64bits(dy[i]) & keep)
	}
}

func (m *made) addContext(dst, c []float64, rows int) {
	if m.nctx == 0 {
		return
	}
	h, nc := m.h, m.nctx
	for n := range rows {
		cn := c[n*nc : n*nc+nc]
		y := dst[n*h : n*h+h]
		for k := range y {
			vk := m.v[k*nc : k*nc+nc]
			var s float64
			for j, cv := range cn {
				s += vk[j] * cv
			}
			y[k] += s
		}
	}
}

// forward runs the conditioner on rows rows of x (and c) into mc.out.
func (m *made) forward(x, c []float64, rows int, mc *madeCache) {
	hn := rows * m.h
	relu := !m.tanh
	if !m.residual {
		m.first.forward(mc.hs[0], x, rows, relu && m.nctx == 0)
		if m.nctx > 0 || m.tanh {
			m.addContext(mc.hs[0], c, rows)
			m.activate(mc.hs[0][:hn])
		}
		for l, ml := range m.mid {
			ml.forward(mc.hs[l+1], mc.hs[l], rows, relu)
			if m.tanh {
				m.activate(mc.hs[l+1][:hn])
			}
		}
		m.last.forward(mc.out, mc.hs[len(m.mid)], rows, false)
		return
	}
	m.first.forward(mc.hs[0], x, rows, false)
	m.addContext(mc.hs[0], c, rows)
	for b := range len(m.mid) / 2 {
		s, u, v, next := mc.hs[3*b], mc.hs[3*b+1], mc.hs[3*b+2], mc.hs[3*b+3]
		copy(u[:hn], s[:hn])
		m.activate(u[:hn])
		m.mid[2*b].forward(v, u, rows, relu)
		if m.tanh {
			m.activate(v[:hn])
		}
		m.mid[2*b+1].forward(next, v, rows, false)
		for i, sv := range s[:hn] {
			next[i] += sv
		}
	}
	m.last.forward(mc.out, mc.hs[len(mc.hs)-1], rows, false)
}

// backward takes dout (rows x p*d), accumulates the parameter gradients, adds
// the input adjoint to dx and, when dc is not nil, the context adjoint to dc.
// The three scratch buffers hold rows*h values each.
func (m *made) backward(dout, x, c []float64, rows int, mc *madeCache, dx, dc []float64,
	scratch *[3][]float64) {
	hn := rows * m.h
	for _, l := range m.dense() {
		l.syncTranspose()
	}
	// The adjoints carry panelWidth values of padding: backwardParams reads
	// whole panels past the last row.
	dh, dt, du := scratch[0][:hn+panelWidth], scratch[1][:hn+panelWidth],
		scratch[2][:hn+panelWidth]
	m.last.backwardParams(dout, mc.hs[len(mc.hs)-1], rows)
	clear(dh)
	m.last.backwardInput(dh, dout, rows)
	if !m.residual {
		for l := len(m.mid); l >= 1; l-- {
			m.gradAct(dh, mc.hs[l])
			m.mid[l-1].backwardParams(dh, mc.hs[l-1], rows)
			clear(dt)
			m.mid[l-1].backwardInput(dt, dh, rows)
			dh, dt = dt, dh
		}
		m.gradAct(dh, mc.hs[0])
	} else {
		// s_{b+1} = s_b + W2 act(W1 act(s_b) + b1) + b2, walked backwards.
		for b := len(m.mid)/2 - 1; b >= 0; b-- {
			u, v := mc.hs[3*b+1], mc.hs[3*b+2]
			m.mid[2*b+1].backwardParams(dh, v, rows)
			clear(dt)
			m.mid[2*b+1].backwardInput(dt, dh, rows)
			m.gradAct(dt, v)
			m.mid[2*b].backwardParams(dt, u, rows)
			clear(du)
			m.mid[2*b].backwardInput(du, dt, rows)
			m.gradAct(du, u)
			for i, g := range du {
				dh[i] += g
			}
		}
	}
	m.first.backwardParams(dh, x, rows)
	m.first.backwardInput(dx, dh, rows)
	if m.nctx > 0 {
		m.backwardContext(dh, c, rows, dc)
	}
}

// backwardContext accumulates the gradient of V and, when dc is not nil, the
// context adjoint, from the first layer's pre-activation adjoint da.
func (m *made) backwardContext(da, c []float64, rows int, dc []float64) {
	h, nc := m.h, m.nctx
	for n := range rows {
		dan := da[n*h : n*h+h]
		cn := c[n*nc : n*nc+nc]
		for k, a := range dan {
			if a == 0 {
				continue
			}
			g := m.gv[k*nc : k*nc+nc]
			for j, cv := range cn {
				g[j] += a * cv
			}
			if dc != nil {
				vk := m.v[k*nc : k*nc+nc]
				dcn := dc[n*nc : n*nc+nc]
				for j, w := range vk {
					dcn[j] += a * w
				}
			}
		}
	}
}
