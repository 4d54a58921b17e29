package flowmodel

// maskedDense is one MADE layer, y = (W ⊙ M) x + b, stored so that the
// kernels skip the masked zeros. With sorted degrees the inputs an output
// may read form one contiguous column range [lo[k], hi[k]). Outputs are
// grouped in panels of eight; a panel keeps only the union of its outputs'
// ranges, packed column by column:
//
//	w[off + (j-lo)*8 + (k-k0)] = W[k, j],   lo <= j < hi, k0 <= k < k0+8
//
// Entries outside an output's own range (and of missing outputs in a last,
// short panel) are structural zeros: they stay exactly zero through
// training, and a zero weight times a finite input adds exactly nothing, so
// the union ranges change no result. This packed layout is also the order of
// the parameters in the model file.
//
// w, b, gw and gb are views into the flow's flat parameter and gradient
// vectors.
type maskedDense struct {
	in, out int
	w, b    []float64
	gw, gb  []float64
	lo, hi  []int
	panels  []panel
	mask    []bool    // per entry of w: inside the MADE mask
	allow   []bool    // out x in: the MADE mask itself
	wt      []float64 // per panel, W rows k0..k0+nk over [lo, hi), row-major
}

type panel struct {
	k0, nk int // first output, number of outputs (<= 8)
	lo, hi int // union of the outputs' column ranges
	off    int // offset of the packed weights in w
	toff   int // offset of the row-major copy in wt
}

const panelWidth = 8

// setRanges derives the column ranges from an allow predicate, lays out the
// panels and returns the number of packed weights. A row's range spans its
// allowed columns; masks that are not contiguous (parity couplings) keep
// their gaps as structural zeros through l.mask.
func (l *maskedDense) setRanges(allow func(k, j int) bool) int {
	l.lo = make([]int, l.out)
	l.hi = make([]int, l.out)
	l.allow = make([]bool, l.out*l.in)
	for k := range l.out {
		lo, hi := -1, -1
		for j := range l.in {
			if !allow(k, j) {
				continue
			}
			l.allow[k*l.in+j] = true
			if lo < 0 {
				lo = j
			}
			hi = j + 1
		}
		if lo < 0 {
			lo, hi = 0, 0
		}
		l.lo[k], l.hi[k] = lo, hi
	}
	l.panels = nil
	off, toff := 0, 0
	for k0 := 0; k0 < l.out; k0 += panelWidth {
		p := panel{k0: k0, nk: min(panelWidth, l.out-k0), lo: l.in, hi: 0, off: off, toff: toff}
		for k := k0; k < k0+p.nk; k++ {
			if l.lo[k] < l.hi[k] {
				p.lo, p.hi = min(p.lo, l.lo[k]), max(p.hi, l.hi[k])
			}
		}
		if p.lo >= p.hi {
			p.lo, p.hi = 0, 0
		}
		off += (p.hi - p.lo) * panelWidth
		toff += (p.hi - p.lo) * p.nk
		l.panels = append(l.panels, p)
	}
	l.mask = make([]bool, off)
	for _, p := range l.panels {
		for j := p.lo; j < p.hi; j++ {
			for c := range p.nk {
				l.mask[p.off+(j-p.lo)*panelWidth+c] = l.allowed(p.k0+c, j)
			}
		}
	}
	l.wt = make([]float64, toff+panelWidth)
	return off
}

// allowed reports whether weight (k, j) is inside the MADE mask.
func (l *maskedDense) allowed(k, j int) bool { return l.allow[k*l.in+j] }

// weight returns W[k, j] (zero outside the stored panels).
func (l *maskedDense) weight(k, j int) float64 {
	p := l.panels[k/panelWidth]
	if j < p.lo || j >= p.hi {
		return 0
	}
	return l.w[p.off+(j-p.lo)*panelWidth+k-p.k0]
}

// nonzero returns the number of weights inside the mask.
func (l *maskedDense) nonzero() int {
	n := 0
	for _, ok := range l.allow {
		if ok {
			n++
		}
	}
	return n
}

// forward sets dst[n, k] = b[k] + sum_j W[k, j] src[n, j] for rows rows,
// then max(0, .) when relu is set. Full panels are written by the tile
// kernels directly; the same kernels serve every row position, so a window's
// result does not depend on where it sits in a batch.
func (l *maskedDense) forward(dst, src []float64, rows int, relu bool) {
	in, out, w, b := l.in, l.out, l.w, l.b
	var t4 [32]float64
	var t1 [8]float64
	n := 0
	for ; n+4 <= rows; n += 4 {
		for _, p := range l.panels {
			span := p.hi - p.lo
			if span > 0 && p.nk == panelWidth {
				tile4x8Out(src[n*in+p.lo:], in, 1, w[p.off:], panelWidth, span,
					b[p.k0:], dst[n*out+p.k0:], out, relu)
				continue
			}
			t4 = [32]float64{}
			if span > 0 {
				tile4x8(src[n*in+p.lo:], in, 1, w[p.off:], panelWidth, span, &t4)
			}
			for r := range 4 {
				y := dst[(n+r)*out+p.k0 : (n+r)*out+p.k0+p.nk]
				for c := range y {
					y[c] = finish(t4[r*8+c]+b[p.k0+c], relu)
				}
			}
		}
	}
	for ; n < rows; n++ {
		for _, p := range l.panels {
			span := p.hi - p.lo
			if span > 0 && p.nk == panelWidth {
				tile1x8Out(src[n*in+p.lo:], 1, w[p.off:], panelWidth, span,
					b[p.k0:], dst[n*out+p.k0:], relu)
				continue
			}
			t1 = [8]float64{}
			if span > 0 {
				tile1x8(src[n*in+p.lo:], 1, w[p.off:], panelWidth, span, &t1)
			}
			y := dst[n*out+p.k0 : n*out+p.k0+p.nk]
			for c := range y {
				y[c] = finish(t1[c]+b[p.k0+c], relu)
			}
		}
	}
}

// syncTranspose refreshes the row-major copies the input adjoint reads.
func (l *maskedDense) syncTranspose() {
	for _, p := range l.panels {
		span := p.hi - p.lo
		for c := range p.nk {
			row := l.wt[p.toff+c*span : p.toff+(c+1)*span]
			for j := range row {
				row[j] = l.w[p.off+j*panelWidth+c]
			}
		}
	}
}

// backwardInput adds dsrc[n, j] += sum_k ddst[n, k] W[k, j]. The transposed
// copies must be current (syncTranspose). Column blocks of eight may run past
// a panel's span; the tiles then read the next copy's values (or the zero
// padding of wt) into columns that are dropped.
func (l *maskedDense) backwardInput(dsrc, ddst []float64, rows int) {
	in, out := l.in, l.out
	var t4 [32]float64
	var t1 [8]float64
	for _, p := range l.panels {
		span := p.hi - p.lo
		if span == 0 {
			continue
		}
		wt := l.wt[p.toff:]
		n := 0
		for ; n+4 <= rows; n += 4 {
			for j := 0; j < span; j += 8 {
				tile4x8(ddst[n*out+p.k0:], out, 1, wt[j:], span, p.nk, &t4)
				w := min(8, span-j)
				for r := range 4 {
					dx := dsrc[(n+r)*in+p.lo+j : (n+r)*in+p.lo+j+w]
					for c := range dx {
						dx[c] += t4[r*8+c]
					}
				}
			}
		}
		for ; n < rows; n++ {
			for j := 0; j < span; j += 8 {
				tile1x8(ddst[n*out+p.k0:], 1, wt[j:], span, p.nk, &t1)
				dx := dsrc[n*in+p.lo+j : n*in+p.lo+j+min(8, span-j)]
				for c := range dx {
					dx[c] += t1[c]
				}
			}
		}
	}
}

// backwardParams accumulates gw += ddst^T src inside the mask only (masked
// gradients stay exactly zero, so Adam's moments and weight decay leave
// masked weights at zero) and gb[k] += sum_n ddst[n, k]. ddst must extend
// panelWidth values past its last row (the workspace pads its buffers), as
// the tiles read whole panels.
func (l *maskedDense) backwardParams(ddst, src []float64, rows int) {
	in, out := l.in, l.out
	var t4 [32]float64
	var t1 [8]float64
	for _, p := range l.panels {
		span := p.hi - p.lo
		g := l.gw[p.off : p.off+span*panelWidth]
		m := l.mask[p.off : p.off+span*panelWidth]
		j := 0
		for ; j+4 <= span; j += 4 {
			tile4x8(src[p.lo+j:], 1, in, ddst[p.k0:], out, rows, &t4)
			gg, mm := g[j*8:j*8+32], m[j*8:j*8+32]
			for i, ok := range mm {
				if ok {
					gg[i] += t4[i]
				}
			}
		}
		for ; j < span; j++ {
			tile1x8(src[p.lo+j:], in, ddst[p.k0:], out, rows, &t1)
			gg, mm := g[j*8:j*8+8], m[j*8:j*8+8]
			for i, ok := range mm {
				if ok {
					gg[i] += t1[i]
				}
			}
		}
	}
	for k := range out {
		var s float64
		for n := range rows {
			s += ddst[n*out+k]
		}
		l.gb[k] += s
	}
}
