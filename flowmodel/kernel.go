package flowmodel

// The dense products of every MADE layer reduce to one 4x8 tile kernel:
//
//	out[r*8 + c] = sum_{t<n} a[r*ars + t*ast] * b[t*bst + c],  r < 4, c < 8
//
// (and a one-row variant). Forward passes, weight gradients and input
// adjoints differ only in the strides. On amd64 with AVX2 and FMA the tiles
// run in assembly (kernel_amd64.s); elsewhere, or with the purego build tag,
// in the Go below. Within one build the one-row and four-row tiles perform
// the same operations in the same order per output, so a window's score does
// not depend on its position in a batch.

// tile4x8 checks the extents the strides imply (the assembly trusts them)
// and computes the 4x8 tile.
func tile4x8(a []float64, ars, ast int, b []float64, bst, n int, out *[32]float64) {
	if n <= 0 {
		*out = [32]float64{}
		return
	}
	if len(a) <= 3*ars+(n-1)*ast || len(b) < (n-1)*bst+8 {
		panic("flowmodel: internal error: tile out of range")
	}
	tile4x8Impl(a, ars, ast, b, bst, n, out)
}

// tile1x8 computes out[c] = sum_{t<n} a[t*ast] * b[t*bst + c], c < 8.
func tile1x8(a []float64, ast int, b []float64, bst, n int, out *[8]float64) {
	if n <= 0 {
		*out = [8]float64{}
		return
	}
	if len(a) <= (n-1)*ast || len(b) < (n-1)*bst+8 {
		panic("flowmodel: internal error: tile out of range")
	}
	tile1x8Impl(a, ast, b, bst, n, out)
}

// TODO(flowguard): off amd64 (arm64 servers) these Go tiles and the scalar
// expGo are all there is, 5-8x slower than the AVX2 path; an arm64 NEON
// twin of kernel_amd64.s would close most of the gap.
func tile4x8Go(a []float64, ars, ast int, b []float64, bst, n int, out *[32]float64) {
	// Two passes of 4x4 accumulators, held in locals so the compiler can
	// keep them in registers; each output still sums its terms in order of
	// t, as tile1x8Go does.
	for half := 0; half < 8; half += 4 {
		var c00, c01, c02, c03, c10, c11, c12, c13 float64
		var c20, c21, c22, c23, c30, c31, c32, c33 float64
		for t := range n {
			bt := b[t*bst+half : t*bst+half+4]
			a0, a1 := a[t*ast], a[ars+t*ast]
			a2, a3 := a[2*ars+t*ast], a[3*ars+t*ast]
			b0, b1, b2, b3 := bt[0], bt[1], bt[2], bt[3]
			c00 += a0 * b0
			c01 += a0 * b1
			c02 += a0 * b2
			c03 += a0 * b3
			c10 += a1 * b0
			c11 += a1 * b1
			c12 += a1 * b2
			c13 += a1 * b3
			c20 += a2 * b0
			c21 += a2 * b1
			c22 += a2 * b2
			c23 += a2 * b3
			c30 += a3 * b0
			c31 += a3 * b1
			c32 += a3 * b2
			c33 += a3 * b3
		}
		out[half], out[half+1], out[half+2], out[half+3] = c00, c01, c02, c03
		out[8+half], out[8+half+1], out[8+half+2], out[8+half+3] = c10, c11, c12, c13
		out[16+half], out[16+half+1], out[16+half+2], out[16+half+3] = c20, c21, c22, c23
		out[24+half], out[24+half+1], out[24+half+2], out[24+half+3] = c30, c31, c32, c33
	}
}

func tile1x8Go(a []float64, ast int, b []float64, bst, n int, out *[8]float64) {
	var c0, c1, c2, c3, c4, c5, c6, c7 float64
	for t := range n {
		av := a[t*ast]
		bt := b[t*bst : t*bst+8]
		c0 += av * bt[0]
		c1 += av * bt[1]
		c2 += av * bt[2]
		c3 += av * bt[3]
		c4 += av * bt[4]
		c5 += av * bt[5]
		c6 += av * bt[6]
		c7 += av * bt[7]
	}
	*out = [8]float64{c0, c1, c2, c3, c4, c5, c6, c7}
}

// tile4x8Out computes the 4x8 tile, adds bias[0:8], applies max(0, .) when
// relu is set and stores row r into dst[r*dstride : r*dstride+8]. n >= 1.
func tile4x8Out(a []float64, ars, ast int, b []float64, bst, n int,
	bias, dst []float64, dstride int, relu bool) {
	if n <= 0 || len(a) <= 3*ars+(n-1)*ast || len(b) < (n-1)*bst+8 ||
		len(bias) < 8 || len(dst) < 3*dstride+8 {
		panic("flowmodel: internal error: tile out of range")
	}
	tile4x8OutImpl(a, ars, ast, b, bst, n, bias, dst, dstride, relu)
}

// tile1x8Out is tile4x8Out for one row.
func tile1x8Out(a []float64, ast int, b []float64, bst, n int, bias, dst []float64, relu bool) {
	if n <= 0 || len(a) <= (n-1)*ast || len(b) < (n-1)*bst+8 || len(bias) < 8 || len(dst) < 8 {
		panic("flowmodel: internal error: tile out of range")
	}
	tile1x8OutImpl(a, ast, b, bst, n, bias, dst, relu)
}

func tile4x8OutGo(a []float64, ars, ast int, b []float64, bst, n int,
	bias, dst []float64, dstride int, relu bool) {
	var t [32]float64
	tile4x8Go(a, ars, ast, b, bst, n, &t)
	for r := range 4 {
		y := dst[r*dstride : r*dstride+8]
		for c := range y {
			y[c] = finish(t[r*8+c]+bias[c], relu)
		}
	}
}

func tile1x8OutGo(a []float64, ast int, b []float64, bst, n int, bias, dst []float64, relu bool) {
	var t [8]float64
	tile1x8Go(a, ast, b, bst, n, &t)
	for c := range 8 {
		dst[c] = finish(t[c]+bias[c], relu)
	}
}

func finish(v float64, relu bool) float64 {
	if relu {
		return reluOf(v)
	}
	return v
}
