package flowmodel

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// randomSpecs returns small specs covering every MADE shape and stack kind.
func randomSpecs(rng *rand.Rand, n int) []Spec {
	var specs []Spec
	for range n {
		s := Spec{
			Window:         2 + rng.IntN(4),
			Channels:       1 + rng.IntN(2),
			Context:        rng.IntN(3),
			Layers:         1 + rng.IntN(3),
			HiddenLayers:   1 + rng.IntN(3),
			ResidualBlocks: rng.IntN(2) * (1 + rng.IntN(2)),
			Activation:     []string{ActReLU, ActTanh}[rng.IntN(2)],
			Kind:           []string{KindTimeOrdered, KindMAF, KindRealNVP}[rng.IntN(3)],
			LayerType:      []string{LayerAffine, LayerSpline}[rng.IntN(2)],
		}
		if s.LayerType == LayerSpline {
			s.Bins = 2 + rng.IntN(4)
		}
		if s.Kind == KindMAF && rng.IntN(2) == 0 {
			s.Permutation, s.PermutationSeed = PermRandom, rng.Uint64()
		}
		if s.Kind == KindRealNVP && rng.IntN(2) == 0 {
			mask := []byte("01")
			for len(mask) < s.Window*s.Channels {
				mask = append(mask, "01"[rng.IntN(2)])
			}
			rng.Shuffle(len(mask), func(i, j int) { mask[i], mask[j] = mask[j], mask[i] })
			s.CouplingMask = string(mask)
		}
		s.Hidden = s.WithDefaults().minHidden() + rng.IntN(7)
		specs = append(specs, s)
	}
	return specs
}

// TestMaskStructure multiplies the 0/1 masks of every MADE (flow-math
// section 2.7): the number of paths from input j to an output of variable i
// must be zero whenever m0(j) >= m0(i), and every output must be reachable
// from the context when there is one. Residual blocks add identity paths.
func TestMaskStructure(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for si, s := range randomSpecs(rng, 40) {
		f := mustNew(t, s, uint64(si))
		for k, m := range f.layers {
			name := fmt.Sprintf("spec %d %+v layer %d", si, f.spec, k)
			checkHiddenDegrees(t, name, m)
			// reach[u][j]: paths from input j (j == d is the context) to unit u.
			reach := make([][]float64, m.h)
			for u := range m.h {
				reach[u] = make([]float64, m.d+1)
				for j := range m.d {
					if m.first.allowed(u, j) {
						reach[u][j] = 1
					}
				}
				if m.nctx > 0 {
					reach[u][m.d] = 1
				}
			}
			for li, l := range m.mid {
				next := propagate(l, reach)
				if m.residual && li%2 == 1 {
					for u := range next {
						for j := range next[u] {
							next[u][j] += reach[u][j]
						}
					}
				}
				reach = next
			}
			out := propagate(m.last, reach)
			for o := range out {
				i := o % m.d
				for j := range m.d {
					if m.m0[j] >= m.m0[i] && out[o][j] != 0 {
						t.Errorf("%s: output %d (degree %d) reaches input %d (degree %d)",
							name, o, m.m0[i], j, m.m0[j])
					}
				}
				if m.nctx > 0 && out[o][m.d] == 0 {
					t.Errorf("%s: context does not reach output %d", name, o)
				}
			}
		}
	}
}

func propagate(l *maskedDense, reach [][]float64) [][]float64 {
	next := make([][]float64, l.out)
	for u := range l.out {
		next[u] = make([]float64, len(reach[0]))
		for v := range l.in {
			if !l.allowed(u, v) {
				continue
			}
			for j, r := range reach[v] {
				next[u][j] += r
			}
		}
	}
	return next
}

func checkHiddenDegrees(t *testing.T, name string, m *made) {
	t.Helper()
	seen := map[int]bool{}
	for _, g := range m.mh {
		seen[g] = true
	}
	lo := 1
	if m.nctx > 0 {
		lo = 0
	}
	for g := lo; g < slices.Max(m.m0); g++ {
		if !seen[g] {
			t.Errorf("%s: hidden degree %d missing", name, g)
		}
	}
}

// TestMaskPerturbation perturbs one input at a time and requires the
// conditioner outputs of every variable of lower or equal degree to stay
// bit-identical, and the context to change the first variable's outputs.
func TestMaskPerturbation(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const rows = 5
	for si, s := range randomSpecs(rng, 40) {
		if s.Context > 0 {
			// A ReLU net may switch off its few degree-0 units for every
			// row; TestMaskStructure covers the context paths of ReLU specs.
			s.Activation = ActTanh
		}
		f := mustNew(t, s, uint64(si))
		randomize(f, rng, 0.8)
		d, nc := f.spec.Dim(), f.spec.Context
		x, c := normals(rng, rows*d), normals(rng, rows*nc)
		for k, m := range f.layers {
			base := m.newCache(rows)
			m.forward(x, c, rows, &base)
			pert := m.newCache(rows)
			for j := range d {
				x2 := append([]float64(nil), x...)
				for n := range rows {
					x2[n*d+j] += 1 + rng.Float64()
				}
				m.forward(x2, c, rows, &pert)
				pd := m.p * d
				for o := range pd {
					i := o % d
					if m.m0[i] > m.m0[j] {
						continue
					}
					for n := range rows {
						if base.out[n*pd+o] != pert.out[n*pd+o] {
							t.Fatalf("spec %d layer %d: input %d changed output %d", si, k, j, o)
						}
					}
				}
			}
			if nc == 0 {
				continue
			}
			c2 := append([]float64(nil), c...)
			for i := range c2 {
				c2[i] += 1
			}
			m.forward(x, c2, rows, &pert)
			first := 0
			for i, g := range m.m0 {
				if g == 1 {
					first = i
				}
			}
			changed := false
			for n := range rows {
				for p := range m.p {
					o := n*m.p*d + p*d + first
					changed = changed || base.out[o] != pert.out[o]
				}
			}
			if !changed {
				t.Errorf("spec %d layer %d: context does not reach the first variable", si, k)
			}
		}
	}
}
