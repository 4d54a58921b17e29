package timeseries

import (
	"bytes"
	"errors"
	"math"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"
)

func idN(i int) SeriesID {
	return SeriesID{Name: "cpu", Labels: []Label{{"host", "h" + strconv.Itoa(i)}}}
}

func TestPartitionEvict(t *testing.T) {
	p, err := NewPartition(Config{Step: time.Minute, Window: 2, IdleAfter: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	p.Push(&Sample{Series: idN(1), Time: at(0), Values: []float64{1}})
	p.Push(&Sample{Series: idN(2), Time: at(20 * time.Minute), Values: []float64{1}})
	p.Push(&Sample{Series: idN(2), Time: at(21 * time.Minute), Values: []float64{1}})
	if s, r := p.Push(&Sample{Series: idN(3), Values: nil}); s != nil || r.Reason != ReasonChannels {
		t.Errorf("empty sample: %v %v", s, r)
	}
	if n := p.Evict(at(25 * time.Minute)); n != 1 || p.Len() != 1 || p.Get(idN(1).Key()) != nil {
		t.Fatalf("evicted %d, %d left", n, p.Len())
	}
	st := p.Stats()
	if st.Evicted != 1 || st.Accepted != 3 || st.Steps != 1 || st.Invalid != 1 {
		t.Errorf("stats %+v, want evicted 1, accepted 3, steps 1, invalid 1", st)
	}
	n := 0
	for k, s := range p.All() {
		if k != idN(2).Key() || !s.ID().Equal(idN(2)) {
			t.Errorf("live series %s", k)
		}
		n++
	}
	if n != 1 {
		t.Errorf("All yielded %d", n)
	}
}

func TestSnapshotRestore(t *testing.T) {
	cfg := Config{Step: time.Minute, Window: 4, Lateness: 2 * time.Minute, MaxFill: 2,
		Fill: FillLinear, Lags: []time.Duration{time.Hour}, LagResolution: 5 * time.Minute,
		Calendar: true, NormWarmUp: 20}
	feed := func(p *Partition, from, to int) (out []float64) {
		w := make([]float64, cfg.Window)
		ctx := make([]float64, cfg.ContextWidth(1))
		for i := from; i < to; i++ {
			// Three series, a skipped minute every 7, one late sample in 5.
			d := time.Duration(i) * time.Minute
			if i%7 == 3 {
				continue
			}
			if i%5 == 0 {
				d -= 90 * time.Second
			}
			for k := range 3 {
				v := math.Sin(float64(i)/10) + float64(k)
				s, r := p.Push(&Sample{Series: idN(k), Time: at(d), Values: []float64{v}})
				for a := range r.Emitted {
					if s.WindowAt(w, a) {
						out = append(out, w...)
					}
					s.ContextAt(ctx, a)
					out = append(out, ctx...)
				}
			}
		}
		return out
	}
	a, _ := NewPartition(cfg)
	feed(a, 0, 100)
	var buf bytes.Buffer
	if err := a.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	b, err := RestorePartition(bytes.NewReader(buf.Bytes()), cfg)
	if err != nil {
		t.Fatal(err)
	}
	wantOut, gotOut := feed(a, 100, 200), feed(b, 100, 200)
	if len(wantOut) < 1000 || !slices.Equal(wantOut, gotOut) {
		t.Fatalf("restored partition diverged: %d vs %d values", len(wantOut), len(gotOut))
	}
	if a.Stats() != b.Stats() {
		t.Errorf("stats %+v vs %+v", a.Stats(), b.Stats())
	}
	na, _ := a.Get(idN(1).Key()).Normaliser()
	nb, ok := b.Get(idN(1).Key()).Normaliser()
	if !ok || !slices.Equal(na.Loc, nb.Loc) {
		t.Errorf("normaliser lost: %+v vs %+v", na, nb)
	}

	other := cfg
	other.Window = 5
	if _, err := RestorePartition(bytes.NewReader(buf.Bytes()), other); !errors.Is(err, ErrSnapshotMismatch) {
		t.Errorf("restore with another window: %v", err)
	}
	if _, err := RestorePartition(bytes.NewReader(buf.Bytes()[:buf.Len()/2]), cfg); err == nil {
		t.Error("restore of a truncated snapshot succeeded")
	}
}

// Pushing to a known series and reading its window, context and steps
// allocates nothing.
func TestPushAllocs(t *testing.T) {
	cfg := Config{Step: time.Minute, Window: 32, Lateness: time.Minute, MaxFill: 3,
		Calendar: true, Lags: []time.Duration{24 * time.Hour}}
	p, _ := NewPartition(cfg)
	id := idN(1)
	w := make([]float64, 32)
	ctx := make([]float64, cfg.ContextWidth(1))
	smp := &Sample{Series: id, Values: []float64{0}}
	i := 0
	push := func() {
		smp.Time = at(time.Duration(i) * 20 * time.Second)
		smp.Values[0] = float64(i % 17)
		s, r := p.Push(smp)
		for a := range r.Emitted {
			_ = s.Step(a)
			s.WindowAt(w, a)
			s.ContextAt(ctx, a)
		}
		i++
	}
	for range 100 {
		push()
	}
	if n := testing.AllocsPerRun(1000, push); n != 0 {
		t.Errorf("push allocates %v times", n)
	}
}

// seriesBytes measures the heap held per series of a partition, map entry
// and key included, over n series.
func seriesBytes(t testing.TB, cfg Config, n int) float64 {
	p, err := NewPartition(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]SeriesID, n)
	for i := range ids {
		ids[i] = idN(i)
	}
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	s := &Sample{Time: at(0), Values: []float64{1}}
	for _, id := range ids {
		s.Series = id
		p.Push(s)
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	runtime.KeepAlive(p)
	runtime.KeepAlive(ids)
	return float64(m1.HeapAlloc-m0.HeapAlloc) / float64(n)
}

var (
	memNoLag = Config{Step: time.Minute, Window: 32, Lateness: time.Minute, MaxFill: 5,
		Calendar: true}
	memLag1m = Config{Step: time.Minute, Window: 32, Lateness: time.Minute, MaxFill: 5,
		Calendar: true, Lags: []time.Duration{24 * time.Hour}}
	memLag15m = Config{Step: time.Minute, Window: 32, Lateness: time.Minute, MaxFill: 5,
		Calendar: true, Lags: []time.Duration{24 * time.Hour}, LagResolution: 15 * time.Minute}
)

// The memory target: at most 1 KiB per series for W=32 without
// seasonal lags.
func TestSeriesMemory(t *testing.T) {
	if got := seriesBytes(t, memNoLag, 20000); got > 1024 || got < 300 {
		t.Errorf("%.0f bytes per series, want 300..1024", got)
	}
}
