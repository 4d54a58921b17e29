package flowmodel

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/fuzz/FuzzLoad seeds")

func savedModel(t testing.TB, s Spec, meta []byte) (*Flow, []byte) {
	t.Helper()
	f := mustNew(t, s, 5)
	randomize(f, rand.New(rand.NewPCG(1, 2)), 0.5)
	f.anInit, f.linFit = f.an != nil, f.lin != nil
	var buf bytes.Buffer
	if err := f.Save(&buf, meta); err != nil {
		t.Fatal(err)
	}
	return f, buf.Bytes()
}

// TestSaveLoad: a loaded model has the same spec, metadata and weights bit
// for bit, and scores identically.
func TestSaveLoad(t *testing.T) {
	meta := []byte(`{"median":[1.5],"mad":[0.25],"calibration":[3.1,4.2]}`)
	for _, spec := range []Spec{
		{Window: 6, Channels: 2, Context: 2, Hidden: 14, Layers: 3, ResidualBlocks: 1},
		{Window: 5, Context: 1, Hidden: 8, Layers: 2, LayerType: LayerSpline, Bins: 6},
		{Kind: KindMAF, Window: 4, Hidden: 8, Layers: 3, Permutation: PermRandom,
			PermutationSeed: 77},
		{Kind: KindRealNVP, Window: 3, Channels: 2, Hidden: 8, Layers: 4},
		{Window: 4, Context: 1, Hidden: 8, Layers: 2, ActNorm: true},
		{Window: 3, Channels: 2, Hidden: 8, Layers: 2, ActNorm: true, ChannelMixing: true},
		{Kind: KindMAF, Window: 4, Hidden: 8, Layers: 2, WindowMixing: true},
	} {
		checkSaveLoad(t, spec, meta)
	}
}

func checkSaveLoad(t *testing.T, spec Spec, meta []byte) {
	f, file := savedModel(t, spec, meta)
	if spec.ActNorm && !f.anInit {
		t.Fatal("savedModel did not mark the ActNorm layers as set")
	}
	g, gotMeta, err := Load(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if g.Spec() != f.Spec() || !bytes.Equal(gotMeta, meta) || g.anInit != f.anInit ||
		g.linFit != f.linFit {
		t.Fatalf("spec %+v meta %q, want %+v %q", g.Spec(), gotMeta, f.Spec(), meta)
	}
	for i := range f.theta {
		if math.Float64bits(f.theta[i]) != math.Float64bits(g.theta[i]) {
			t.Fatalf("parameter %d: %v, saved %v", i, g.theta[i], f.theta[i])
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	x, c := normals(rng, 40*f.spec.Dim()), normals(rng, 40*f.spec.Context)
	a, _ := f.StepLogProb(nil, x, c)
	b, _ := g.StepLogProb(nil, x, c)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("step term %d: %v after load, %v before", i, b[i], a[i])
		}
	}
}

// TestLoadRejects: every single flipped byte, every truncation, a newer
// version and a foreign file give their distinct errors.
func TestLoadRejects(t *testing.T) {
	_, file := savedModel(t, Spec{Window: 3, Context: 1, Hidden: 4, Layers: 2}, []byte("{}"))
	for i := range file {
		bad := append([]byte(nil), file...)
		bad[i] ^= 0x10
		if _, _, err := Load(bytes.NewReader(bad)); err == nil {
			t.Fatalf("byte %d flipped: loaded without error", i)
		} else if !isLoadErr(err) {
			t.Fatalf("byte %d flipped: unclassified error %v", i, err)
		}
	}
	payload := file[headerSize:]
	flip := append([]byte(nil), file...)
	flip[headerSize+len(payload)/2] ^= 1
	for name, tc := range map[string]struct {
		data []byte
		want error
	}{
		"flipped payload byte": {flip, ErrChecksum},
		"truncated header":     {file[:10], ErrTruncated},
		"truncated payload":    {file[:len(file)-1], ErrTruncated},
		"empty":                {nil, ErrTruncated},
		"newer version":        {withVersion(file, FileVersion+1), ErrVersion},
		"foreign":              {[]byte("PK\x03\x04 not a model file at all"), ErrNotModel},
		"weight outside mask":  {withMaskedWeight(t, file), ErrCorrupt},
	} {
		_, _, err := Load(bytes.NewReader(tc.data))
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: error %v, want %v", name, err, tc.want)
		}
	}
	for n := range len(file) {
		if _, _, err := Load(bytes.NewReader(file[:n])); !errors.Is(err, ErrTruncated) {
			t.Fatalf("file cut at %d of %d bytes: error %v", n, len(file), err)
		}
	}
}

func isLoadErr(err error) bool {
	for _, e := range []error{ErrNotModel, ErrTruncated, ErrChecksum, ErrVersion, ErrCorrupt} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func withVersion(file []byte, v uint32) []byte {
	out := append([]byte(nil), file...)
	binary.LittleEndian.PutUint32(out[8:], v)
	return out
}

// withMaskedWeight writes a non-zero value into a masked weight (the first
// output-layer row of the first variable reads nothing) and fixes the
// checksum, so only the content check can catch it.
func withMaskedWeight(t *testing.T, file []byte) []byte {
	f, _, err := Load(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	free := unmasked(f)
	idx := -1
	for i, ok := range free {
		if !ok {
			idx = i
			break
		}
	}
	out := append([]byte(nil), file...)
	off := len(out) - 4 - 8*len(f.theta) + 8*idx
	binary.LittleEndian.PutUint64(out[off:], math.Float64bits(0.5))
	sum := crc32.Checksum(out[headerSize:], castagnoli)
	binary.LittleEndian.PutUint32(out[20:], sum)
	return out
}

// FuzzLoad feeds arbitrary bytes to Load. It must never panic, must classify
// every failure with one of its sentinels, and a model it accepts must
// survive a Save and Load unchanged.
func FuzzLoad(f *testing.F) {
	spec := Spec{Window: 2, Hidden: 2, Layers: 1, HiddenLayers: 1}
	_, file := savedModel(f, spec, []byte(`{"a":1}`))
	f.Add(file)
	f.Fuzz(func(t *testing.T, data []byte) {
		g, meta, err := Load(bytes.NewReader(data))
		if err != nil {
			if !isLoadErr(err) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		var buf bytes.Buffer
		if err := g.Save(&buf, meta); err != nil {
			t.Fatal(err)
		}
		h, meta2, err := Load(&buf)
		if err != nil || h.Spec() != g.Spec() || !bytes.Equal(meta, meta2) {
			t.Fatalf("reload of an accepted model: %v", err)
		}
		for i := range g.theta {
			if math.Float64bits(g.theta[i]) != math.Float64bits(h.theta[i]) {
				t.Fatalf("reload changed parameter %d", i)
			}
		}
	})
}

// TestWriteCorpus rewrites the committed seed corpus of FuzzLoad when run
// with -update-corpus; otherwise it checks the corpus is present.
func TestWriteCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzLoad")
	if !*updateCorpus {
		entries, err := os.ReadDir(dir)
		if err != nil || len(entries) < 5 {
			t.Fatalf("seed corpus %s missing (%v); rewrite it with "+
				"go test -run WriteCorpus -update-corpus", dir, err)
		}
		return
	}
	_, file := savedModel(t, Spec{Window: 2, Context: 1, Hidden: 2, Layers: 1, HiddenLayers: 1},
		[]byte(`{"train":[0,100]}`))
	seeds := map[string][]byte{
		"valid":         file,
		"truncated":     file[:len(file)/2],
		"header-only":   file[:headerSize],
		"newer-version": withVersion(file, FileVersion+1),
		"masked-weight": withMaskedWeight(t, file),
		"foreign":       []byte("not a flowguard model"),
		"huge-length": append(append([]byte(nil), file[:12]...),
			bytes.Repeat([]byte{0xff}, 12)...),
		"flipped-weight": append(file[:len(file)-3:len(file)-3], 0x7f, 0xf0, 0x00),
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range seeds {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
