package flowmodel

import "math"

// Constants of expGo (and of the assembly expAVX2, which must match it
// operation for operation): ln2 split as in fdlibm's e_exp.c so that k*ln2Hi
// is exact, and the Taylor coefficients 1/n!.
const (
	expClamp = 708.0
	ln2Hi    = 6.93147180369123816490e-01
	ln2Lo    = 1.90821492927058770002e-10
)

var expCoef = func() [14]float64 {
	var c [14]float64
	f := 1.0
	for n := range c {
		if n > 0 {
			f *= float64(n)
		}
		c[13-n] = 1 / f
	}
	return c
}()

// expGo returns e^x for |x| <= 708 (larger magnitudes are clamped there; NaN
// gives NaN) with a relative error of about 1 ulp:
//
//	k = round(x / ln2),  r = x - k ln2,  |r| <= ln2/2,
//	e^x = 2^k * sum_{n<=13} r^n/n!     (truncation error < 5e-18).
//
// It exists so that the vectorised expAVX2 has a scalar twin that rounds
// identically: both use fused multiply-adds in the same order.
func expGo(x float64) float64 {
	if x > expClamp {
		x = expClamp
	}
	if x < -expClamp {
		x = -expClamp
	}
	k := math.RoundToEven(x * math.Log2E)
	r := math.FMA(-k, ln2Hi, x)
	r = math.FMA(-k, ln2Lo, r)
	p := expCoef[0]
	for _, c := range expCoef[1:] {
		p = math.FMA(p, r, c)
	}
	return math.Float64frombits(math.Float64bits(p) + uint64(int64(int32(k)))<<52)
}

// vexp sets dst[i] = expGo(src[i]) for i < len(src); dst and src may be the
// same slice.
func vexp(dst, src []float64) {
	n := len(src)
	dst = dst[:n]
	i := vexpImpl(dst, src)
	for ; i < n; i++ {
		dst[i] = expGo(src[i])
	}
}

// softClamp sets, for i < len(a),
//
//	alpha[i] = kappa * tanh(a[i]/kappa),   e[i] = exp(-alpha[i]),
//
// with tanh(u) = sign(u) (1 - E)/(1 + E), E = exp(-2|u|), which never
// overflows. tmp needs len(a) values.
func softClamp(alpha, e, a []float64, kappa float64, tmp []float64) {
	n := len(a)
	tmp, alpha, e = tmp[:n], alpha[:n], e[:n]
	s := -2 / kappa
	for i, v := range a {
		tmp[i] = math.Abs(v) * s
	}
	vexp(tmp, tmp)
	for i, v := range a {
		E := tmp[i]
		al := kappa * math.Copysign((1-E)/(1+E), v)
		alpha[i] = al
		tmp[i] = -al
	}
	vexp(e, tmp)
}

// clampOne is softClamp for one value, bit-identical to it.
func clampOne(a, kappa float64) float64 {
	E := expGo(math.Abs(a) * (-2 / kappa))
	return kappa * math.Copysign((1-E)/(1+E), a)
}

// logCoef holds 1/(2j+1) for j = 10..0, the series of atanh in Horner order.
var logCoef = func() [11]float64 {
	var c [11]float64
	for j := range c {
		c[10-j] = 1 / float64(2*j+1)
	}
	return c
}()

// logGo returns log(x) for positive normal x (other inputs give unspecified
// results; callers keep to positive normal arguments) with an error below
// 2 ulp:
//
//	x = 2^e m,  m in [sqrt(2)/2, sqrt(2)),  s = (m - 1)/(m + 1),
//	log x = e ln2 + 2 s sum_{j<=10} s^2j/(2j+1)   (truncation < 1e-18).
//
// It is the scalar twin of the vectorised logAVX2 and rounds identically.
func logGo(x float64) float64 {
	b := math.Float64bits(x)
	e := math.Float64frombits(0x4330000000000000|b>>52) - (1<<52 + 1023)
	m := math.Float64frombits(b&(1<<52-1) | 0x3ff0000000000000)
	if m > math.Sqrt2 {
		m *= 0.5
		e++
	}
	f := m - 1
	s := f / (f + 2)
	z := s * s
	p := logCoef[0]
	for _, c := range logCoef[1:] {
		p = math.FMA(p, z, c)
	}
	r := math.FMA(e, ln2Lo, (s+s)*p)
	return math.FMA(e, ln2Hi, r)
}

// vlog sets dst[i] = logGo(src[i]) for i < len(src); dst and src may be the
// same slice.
func vlog(dst, src []float64) {
	n := len(src)
	dst = dst[:n]
	i := vlogImpl(dst, src)
	for ; i < n; i++ {
		dst[i] = logGo(src[i])
	}
}
