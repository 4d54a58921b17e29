//go:build !amd64 || purego

package flowmodel

// KernelName names the kernels this build uses ("go" or "avx2-fma"), for
// benchmark records.
func KernelName() string { return "go" }

func tile4x8Impl(a []float64, ars, ast int, b []float64, bst, n int, out *[32]float64) {
	tile4x8Go(a, ars, ast, b, bst, n, out)
}

func tile1x8Impl(a []float64, ast int, b []float64, bst, n int, out *[8]float64) {
	tile1x8Go(a, ast, b, bst, n, out)
}

func vexpImpl(dst, src []float64) int { return 0 }

func tile4x8OutImpl(a []float64, ars, ast int, b []float64, bst, n int,
	bias, dst []float64, dstride int, relu bool) {
	tile4x8OutGo(a, ars, ast, b, bst, n, bias, dst, dstride, relu)
}

func tile1x8OutImpl(a []float64, ast int, b []float64, bst, n int, bias, dst []float64, relu bool) {
	tile1x8OutGo(a, ast, b, bst, n, bias, dst, relu)
}

func vlogImpl(dst, src []float64) int { return 0 }
