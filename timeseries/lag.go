package timeseries

import "math"

// lagHistory keeps bucket means of past steps, enough of them to look back
// the longest lag. They are float64: float32 would halve the memory but
// keeps seven digits, so a series at 1e9 that varies by units (a counter,
// an epoch time) would see its seasonal context rounded to steps of 64.
// Buckets with no data hold NaN. Fields are exported for encoding/gob only.
type lagHistory struct {
	Res  int64     // bucket width, ns
	Vals []float64 // len(Vals)/C buckets; bucket b is in slot b % n
	Cur  int64     // bucket being accumulated
	Acc  []float64 // its running sum
	AccN int32
	Has  bool
}

func newLagHistory(cfg *Config, channels int) *lagHistory {
	res := int64(cfg.lagResolution())
	longest := int64(0)
	for _, l := range cfg.Lags {
		longest = max(longest, int64(l))
	}
	// Room for the longest lag seen from the oldest step one Push emits.
	span := longest + int64(cfg.maxEmit())*int64(cfg.Step)
	n := (span+res-1)/res + 1
	h := &lagHistory{Res: res, Vals: make([]float64, n*int64(channels)),
		Acc: make([]float64, channels)}
	for i := range h.Vals {
		h.Vals[i] = math.NaN()
	}
	return h
}

func (h *lagHistory) buckets() int64 { return int64(len(h.Vals) / len(h.Acc)) }

// add accumulates one emitted step; steps arrive in time order.
func (h *lagHistory) add(t int64, v []float64) {
	b := floorDiv(t, h.Res)
	if !h.Has {
		h.Cur, h.Has = b, true
	}
	if b > h.Cur {
		h.commit(b)
	}
	for i, x := range v {
		h.Acc[i] += x
	}
	h.AccN++
}

// commit stores the current bucket's mean, marks skipped buckets empty and
// starts bucket b.
func (h *lagHistory) commit(b int64) {
	c := len(h.Acc)
	n := h.buckets()
	slot := floorMod(h.Cur, n) * int64(c)
	for i := range h.Acc {
		v := h.Acc[i] / float64(h.AccN)
		if math.IsInf(v, 0) {
			// Steps near the float64 limit can sum to an infinity; an
			// empty bucket falls back to the step's own value.
			v = math.NaN()
		}
		h.Vals[slot+int64(i)] = v
		h.Acc[i] = 0
	}
	h.AccN = 0
	for k := h.Cur + 1; k < b && k <= h.Cur+n; k++ {
		s := floorMod(k, n) * int64(c)
		for i := range c {
			h.Vals[s+int64(i)] = math.NaN()
		}
	}
	h.Cur = b
}

// at writes the values of the bucket holding time t into dst, or fallback
// when that bucket is empty, unfinished or forgotten.
func (h *lagHistory) at(dst []float64, t int64, fallback []float64) {
	b := floorDiv(t, h.Res)
	n := h.buckets()
	if !h.Has || b >= h.Cur || b < h.Cur-n+1 {
		copy(dst, fallback)
		return
	}
	s := floorMod(b, n) * int64(len(h.Acc))
	for i := range dst {
		v := h.Vals[s+int64(i)]
		if v != v {
			copy(dst, fallback)
			return
		}
		dst[i] = v
	}
}
