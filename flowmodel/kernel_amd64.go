//go:build amd64 && !purego

package flowmodel

// KernelName names the kernels this build uses ("go" or "avx2-fma"), for
// benchmark records.
func KernelName() string {
	if useAVX2 {
		return "avx2-fma"
	}
	return "go"
}

// useAVX2 is decided once: the CPU must offer AVX2 and FMA and the OS must
// save the YMM registers (CPUID leaves 1 and 7, XGETBV).
var useAVX2 = detectAVX2()

func cpuid(leaf, sub uint32) (eax, ebx, ecx, edx uint32)
func xgetbv() (eax, edx uint32)

func detectAVX2() bool {
	maxLeaf, _, _, _ := cpuid(0, 0)
	if maxLeaf < 7 {
		return false
	}
	_, _, ecx, _ := cpuid(1, 0)
	const fma, osxsave, avx = 1 << 12, 1 << 27, 1 << 28
	if ecx&fma == 0 || ecx&osxsave == 0 || ecx&avx == 0 {
		return false
	}
	if xcr0, _ := xgetbv(); xcr0&6 != 6 {
		return false
	}
	_, ebx, _, _ := cpuid(7, 0)
	return ebx&(1<<5) != 0
}

//go:noescape
func tile4x8AVX2(a *float64, ars, ast int, b *float64, bst, n int, out *[32]float64)

//go:noescape
func tile1x8AVX2(a *float64, ast int, b *float64, bst, n int, out *[8]float64)

func tile4x8Impl(a []float64, ars, ast int, b []float64, bst, n int, out *[32]float64) {
	if !useAVX2 {
		tile4x8Go(a, ars, ast, b, bst, n, out)
		return
	}
	tile4x8AVX2(&a[0], ars, ast, &b[0], bst, n, out)
}

func tile1x8Impl(a []float64, ast int, b []float64, bst, n int, out *[8]float64) {
	if !useAVX2 {
		tile1x8Go(a, ast, b, bst, n, out)
		return
	}
	tile1x8AVX2(&a[0], ast, &b[0], bst, n, out)
}

//go:noescape
func expAVX2(dst, src *float64, n int)

// vexpImpl handles the longest multiple of four and returns where it
// stopped.
func vexpImpl(dst, src []float64) int {
	n := len(src) &^ 3
	if !useAVX2 || n == 0 {
		return 0
	}
	expAVX2(&dst[0], &src[0], n)
	return n
}

//go:noescape
func tile4x8OutAVX2(a *float64, ars, ast int, b *float64, bst, n int,
	bias, dst *float64, dstride int, relu bool)

//go:noescape
func tile1x8OutAVX2(a *float64, ast int, b *float64, bst, n int,
	bias, dst *float64, relu bool)

func tile4x8OutImpl(a []float64, ars, ast int, b []float64, bst, n int,
	bias, dst []float64, dstride int, relu bool) {
	if !useAVX2 {
		tile4x8OutGo(a, ars, ast, b, bst, n, bias, dst, dstride, relu)
		return
	}
	tile4x8OutAVX2(&a[0], ars, ast, &b[0], bst, n, &bias[0], &dst[0], dstride, relu)
}

func tile1x8OutImpl(a []float64, ast int, b []float64, bst, n int, bias, dst []float64, relu bool) {
	if !useAVX2 {
		tile1x8OutGo(a, ast, b, bst, n, bias, dst, relu)
		return
	}
	tile1x8OutAVX2(&a[0], ast, &b[0], bst, n, &bias[0], &dst[0], relu)
}

//go:noescape
func logAVX2(dst, src *float64, n int)

// vlogImpl handles the longest multiple of four and returns where it
// stopped.
func vlogImpl(dst, src []float64) int {
	n := len(src) &^ 3
	if !useAVX2 || n == 0 {
		return 0
	}
	logAVX2(&dst[0], &src[0], n)
	return n
}
