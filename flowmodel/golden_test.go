package flowmodel

import (
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

var updateGolden = flag.Bool("update-golden", false, "rewrite testdata/golden_v1.*")

// goldenCase is testdata/golden_v1.json: windows, contexts and the scores a
// reviewed build gave for the model in testdata/golden_v1.model.
type goldenCase struct {
	X       []float64 `json:"x"`
	Context []float64 `json:"context"`
	LogProb []float64 `json:"log_prob"`
	Steps   []float64 `json:"step_log_prob"`
}

// TestGolden loads a committed version-1 model file (a time-ordered spline
// stack with ActNorm, channel mixing and a context; weights randomised from
// a fixed seed) and compares its scores with the committed values, so that
// a change of file format, parameter layout or numerics cannot pass
// unnoticed. The tolerance, 1e-10 relative, admits the last-bit differences
// between the assembly and the pure-Go kernels. The values were produced by
// this test with -update-golden on 2026-12-03; the test also checks that
// the golden step terms of each window sum to its golden log-density.
func TestGolden(t *testing.T) {
	modelPath := filepath.Join("testdata", "golden_v1.model")
	casePath := filepath.Join("testdata", "golden_v1.json")
	if *updateGolden {
		writeGolden(t, modelPath, casePath)
	}
	raw, err := os.ReadFile(modelPath)
	if err != nil {
		t.Fatal(err)
	}
	f, meta, err := Load(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if string(meta) != `{"golden":1}` {
		t.Errorf("metadata %q", meta)
	}
	js, err := os.ReadFile(casePath)
	if err != nil {
		t.Fatal(err)
	}
	var gc goldenCase
	if err := json.Unmarshal(js, &gc); err != nil {
		t.Fatal(err)
	}
	lp, err := f.LogProb(nil, gc.X, gc.Context)
	if err != nil {
		t.Fatal(err)
	}
	steps, err := f.StepLogProb(nil, gc.X, gc.Context)
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, got, want []float64) {
		if len(got) != len(want) {
			t.Fatalf("%s: %d values, golden has %d", name, len(got), len(want))
		}
		for i := range got {
			if math.Abs(got[i]-want[i]) > 1e-10*math.Max(1, math.Abs(want[i])) {
				t.Errorf("%s[%d] = %.15g, golden %.15g", name, i, got[i], want[i])
			}
		}
	}
	for n, want := range gc.LogProb {
		var sum float64
		for _, v := range gc.Steps[n*4 : n*4+4] {
			sum += v
		}
		if math.Abs(sum-want) > 1e-10*math.Max(1, math.Abs(want)) {
			t.Errorf("golden window %d: steps sum to %v, log p %v", n, sum, want)
		}
	}
	check("LogProb", lp, gc.LogProb)
	check("StepLogProb", steps, gc.Steps)
}

func writeGolden(t *testing.T, modelPath, casePath string) {
	spec := Spec{Window: 4, Channels: 2, Context: 1, Hidden: 10, Layers: 2, ActNorm: true,
		ChannelMixing: true, LayerType: LayerSpline, Bins: 5, TailBound: 3}
	f := mustNew(t, spec, 2026)
	rng := rand.New(rand.NewPCG(12, 3))
	randomize(f, rng, 0.5)
	f.anInit = true
	var buf bytes.Buffer
	if err := f.Save(&buf, []byte(`{"golden":1}`)); err != nil {
		t.Fatal(err)
	}
	gc := goldenCase{X: normals(rng, 5*8), Context: normals(rng, 5)}
	gc.LogProb, _ = f.LogProb(nil, gc.X, gc.Context)
	gc.Steps, _ = f.StepLogProb(nil, gc.X, gc.Context)
	js, err := json.MarshalIndent(gc, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(modelPath, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(casePath, append(js, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}
