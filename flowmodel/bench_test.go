package flowmodel

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// Benchmark sizes of the issue: the detector default (W=32, C=1, hidden 64,
// 5 layers, 2 hidden layers per MADE: 51,200 dense multiply-adds per
// window, as ../shared/bench/maf_ref.py) and a small one (W=16, hidden 32,
// 3 layers).
var benchSizes = []struct {
	name string
	spec Spec
}{
	{"W32-H64-L5", Spec{Window: 32, Hidden: 64, Layers: 5}},
	{"W16-H32-L3", Spec{Window: 16, Hidden: 32, Layers: 3}},
}

func benchFlow(b *testing.B, s Spec, rows int) (*Flow, []float64) {
	f := mustNew(b, s, 1)
	// Non-trivial output layers and linear base, as after training.
	rng := rand.New(rand.NewPCG(2, 3))
	for _, m := range f.layers {
		for i, ok := range m.last.mask {
			if ok {
				m.last.w[i] = 0.1 * rng.NormFloat64()
			}
		}
	}
	if f.lin != nil {
		x := normals(rng, 512*f.spec.Dim())
		if err := FitLinearBase(f, Data{X: x}, DefaultLinearRidge); err != nil {
			b.Fatal(err)
		}
	}
	return f, normals(rng, rows*f.spec.Dim())
}

// reportWindows reports windows per wall second and per CPU second of this
// process since start (the per-core figure that holds on a shared machine).
func reportWindows(b *testing.B, perOp int, start time.Duration) {
	n := float64(b.N * perOp)
	b.ReportMetric(n/b.Elapsed().Seconds(), "windows/s")
	if cpu := cpuTime() - start; cpu > 0 {
		b.ReportMetric(n/cpu.Seconds(), "windows/cpu-s")
	}
}

func BenchmarkLogProb(b *testing.B) {
	for _, sz := range benchSizes {
		for _, rows := range []int{1, 16, 256, 4096} {
			b.Run(fmt.Sprintf("%s/batch-%d", sz.name, rows), func(b *testing.B) {
				f, x := benchFlow(b, sz.spec, rows)
				dst := make([]float64, rows)
				f.LogProb(dst, x, nil) // warm-up: the workspace
				b.ReportAllocs()
				start := cpuTime()
				for b.Loop() {
					f.LogProb(dst, x, nil)
				}
				reportWindows(b, rows, start)
			})
		}
	}
}

func BenchmarkStepLogProb(b *testing.B) {
	for _, sz := range benchSizes {
		for _, rows := range []int{1, 16, 256, 4096} {
			b.Run(fmt.Sprintf("%s/batch-%d", sz.name, rows), func(b *testing.B) {
				f, x := benchFlow(b, sz.spec, rows)
				dst := make([]float64, rows*sz.spec.Window)
				f.StepLogProb(dst, x, nil)
				b.ReportAllocs()
				start := cpuTime()
				for b.Loop() {
					f.StepLogProb(dst, x, nil)
				}
				reportWindows(b, rows, start)
			})
		}
	}
}

// BenchmarkLinearBase scores per-step terms with and without the linear
// base (Spec.LinearBase) at both sizes, to show what the base costs.
func BenchmarkLinearBase(b *testing.B) {
	for _, sz := range benchSizes {
		for _, lin := range []bool{false, true} {
			for _, rows := range []int{1, 256} {
				name := fmt.Sprintf("%s/linear-%v/batch-%d", sz.name, lin, rows)
				b.Run(name, func(b *testing.B) {
					s := sz.spec
					s.LinearBase = lin
					f, x := benchFlow(b, s, rows)
					dst := make([]float64, rows*s.Window)
					f.StepLogProb(dst, x, nil)
					b.ReportAllocs()
					start := cpuTime()
					for b.Loop() {
						f.StepLogProb(dst, x, nil)
					}
					reportWindows(b, rows, start)
				})
			}
		}
	}
}

// BenchmarkTrainStep times one optimizer step (forward, backward, clipping,
// Adam) on a minibatch of 256 windows.
func BenchmarkTrainStep(b *testing.B) {
	sizes := append(benchSizes[:len(benchSizes):len(benchSizes)], struct {
		name string
		spec Spec
	}{"spline-W32-H64-L4", DefaultSpec(32, 1, 0)})
	for _, sz := range sizes {
		b.Run(sz.name+"/batch-256", func(b *testing.B) {
			const rows = 256
			f, x := benchFlow(b, sz.spec, rows)
			t := newTrainer(f, TrainOptions{}.withDefaults(), rows)
			t.stepOn(x, nil, rows)
			b.ReportAllocs()
			start := cpuTime()
			for b.Loop() {
				t.stepOn(x, nil, rows)
			}
			reportWindows(b, rows, start)
		})
	}
}

// BenchmarkSample times conditional sampling of the last step (h=1) and of
// whole windows (h=W, the reference's sample figure) for 256 windows.
func BenchmarkSample(b *testing.B) {
	sizes := append(benchSizes[:len(benchSizes):len(benchSizes)], struct {
		name string
		spec Spec
	}{"spline-W32-H64-L4", DefaultSpec(32, 1, 0)})
	for _, sz := range sizes {
		hs := []int{1, sz.spec.Window}
		if sz.spec.LayerType == LayerSpline {
			hs = hs[:1]
		}
		for _, h := range hs {
			b.Run(fmt.Sprintf("%s/h-%d/batch-256", sz.name, h), func(b *testing.B) {
				const rows = 256
				f, x := benchFlow(b, sz.spec, rows)
				d := f.spec.Dim()
				p := (f.spec.Window - h) * f.spec.Channels
				prefix := make([]float64, rows*p)
				for n := range rows {
					copy(prefix[n*p:n*p+p], x[n*d:])
				}
				rng := rand.New(rand.NewPCG(1, 1))
				f.SampleSuffix(x, prefix, h, nil, rng)
				b.ReportAllocs()
				start := cpuTime()
				for b.Loop() {
					f.SampleSuffix(x, prefix, h, nil, rng)
				}
				reportWindows(b, rows, start)
			})
		}
	}
}

// BenchmarkSplineStack (issue 4) scores with the time-ordered spline stack at
// the detector's default spline size (W=32, C=1, 8 bins, hidden 64, 4
// layers) beside the affine stack of the same depth, batch 256.
func BenchmarkSplineStack(b *testing.B) {
	for _, layer := range []string{LayerSpline, LayerAffine} {
		spec := Spec{Window: 32, Hidden: 64, Layers: 4, LayerType: layer}
		for _, step := range []bool{false, true} {
			name := layer + "-W32-H64-L4/LogProb/batch-256"
			if step {
				name = layer + "-W32-H64-L4/StepLogProb/batch-256"
			}
			b.Run(name, func(b *testing.B) {
				const rows = 256
				f, x := benchFlow(b, spec, rows)
				dst := make([]float64, rows*32)
				f.StepLogProb(dst, x, nil)
				b.ReportAllocs()
				start := cpuTime()
				for b.Loop() {
					if step {
						f.StepLogProb(dst, x, nil)
					} else {
						f.LogProb(dst[:rows], x, nil)
					}
				}
				reportWindows(b, rows, start)
			})
		}
	}
}
