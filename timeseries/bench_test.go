package timeseries

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

func reportRate(b *testing.B, perOp int, unit string) {
	b.ReportMetric(float64(perOp)*float64(b.N)/b.Elapsed().Seconds(), unit)
}

func jsonPayload(n int) []byte {
	var buf bytes.Buffer
	r := rand.New(rand.NewPCG(1, 2))
	if n > 1 {
		buf.WriteByte('[')
	}
	for i := range n {
		if i > 0 {
			buf.WriteByte(',')
		}
		fmt.Fprintf(&buf, `{"name":"cpu_usage","labels":{"host":"host-%d","dc":"eu-1"},`+
			`"timestamp":%d,"value":%v}`, i%50, 1772366400000+int64(i)*1000, r.Float64()*100)
	}
	if n > 1 {
		buf.WriteByte(']')
	}
	return buf.Bytes()
}

func BenchmarkDecodeJSON(b *testing.B) {
	d := NewJSONDecoder(JSONConfig{})
	for _, n := range []int{1, 100} {
		p := jsonPayload(n)
		b.Run(fmt.Sprintf("samples=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(p)))
			for b.Loop() {
				if ss, err := d.Decode(p); err != nil || len(ss) != n {
					b.Fatal(err)
				}
			}
			reportRate(b, n, "samples/s")
		})
	}
}

func BenchmarkDecodeLine(b *testing.B) {
	var buf bytes.Buffer
	r := rand.New(rand.NewPCG(1, 2))
	const lines = 100
	for i := range lines {
		fmt.Fprintf(&buf, "cpu,dc=eu-1,host=host-%d usage_user=%v,usage_system=%v %d\n",
			i%50, r.Float64()*100, r.Float64()*100, 1772366400000000000+int64(i)*1e9)
	}
	p := buf.Bytes()
	series, _ := NewLineDecoder(LineConfig{})
	chans, _ := NewLineDecoder(LineConfig{Mode: FieldsAsChannels,
		Channels: []string{"usage_user", "usage_system"}})
	for _, tc := range []struct {
		name    string
		d       *LineDecoder
		samples int
	}{{"fields=series", series, 2 * lines}, {"fields=channels", chans, lines}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(p)))
			for b.Loop() {
				if ss, err := tc.d.Decode(p); err != nil || len(ss) != tc.samples {
					b.Fatal(err)
				}
			}
			reportRate(b, tc.samples, "samples/s")
		})
	}
}

func BenchmarkDecodeCSV(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteString("timestamp,value\n")
	for i := range 100 {
		fmt.Fprintf(&buf, "%s,%v\n", at(time.Duration(i)*5*time.Minute).Format(NABTimeLayout),
			float64(i)*1.25)
	}
	p := buf.Bytes()
	d, _ := NewCSVDecoder(CSVConfig{Series: SeriesID{Name: "nab"}})
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		if ss, err := d.Decode(p); err != nil || len(ss) != 100 {
			b.Fatal(err)
		}
	}
	reportRate(b, 100, "samples/s")
}

// BenchmarkWindowUpdate pushes one sample per step into one series (W=32,
// C=1) and copies the window each step completes; one op is one update.
func BenchmarkWindowUpdate(b *testing.B) {
	cases := []struct {
		name string
		cfg  Config
		ctx  bool
	}{
		{"as-it-comes", Config{Window: 32}, false},
		{"grid", Config{Step: time.Minute, Window: 32, Lateness: time.Minute, MaxFill: 5}, false},
		{"grid+calendar+lag1d", Config{Step: time.Minute, Window: 32, Lateness: time.Minute,
			MaxFill: 5, Calendar: true, Lags: []time.Duration{24 * time.Hour}}, true},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			s, err := NewSeries(SeriesID{Name: "m"}, tc.cfg, 1)
			if err != nil {
				b.Fatal(err)
			}
			w := make([]float64, 32)
			ctx := make([]float64, tc.cfg.ContextWidth(1))
			smp := &Sample{Values: []float64{0}}
			t0 := base.UnixNano()
			b.ReportAllocs()
			i := int64(0)
			for b.Loop() {
				smp.Time = time.Unix(0, t0+i*int64(time.Minute))
				smp.Values[0] = float64(i & 1023)
				r := s.Push(smp)
				if r.Emitted > 0 {
					s.Window(w)
					if tc.ctx {
						s.ContextAt(ctx, 0)
					}
				}
				i++
			}
			reportRate(b, 1, "updates/s")
		})
	}
}

// BenchmarkPartitionPush spreads updates over 10,000 series, so the series
// lookup by key and cache misses are included.
func BenchmarkPartitionPush(b *testing.B) {
	const n = 10000
	p, _ := NewPartition(Config{Step: time.Minute, Window: 32, Lateness: time.Minute, MaxFill: 5})
	smps := make([]Sample, n)
	for i := range smps {
		smps[i] = Sample{Series: idN(i), Values: []float64{float64(i)}}
	}
	w := make([]float64, 32)
	t0 := base.UnixNano()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s := &smps[i%n]
		s.Time = time.Unix(0, t0+int64(i/n)*int64(time.Minute))
		ser, r := p.Push(s)
		if r.Emitted > 0 {
			ser.Window(w)
		}
		i++
	}
	reportRate(b, 1, "updates/s")
}

// BenchmarkSeriesMemory reports the heap per series of a partition (map
// entry and key included) at W=32, C=1, one-minute steps.
func BenchmarkSeriesMemory(b *testing.B) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{{"nolag", memNoLag}, {"lag1d-res1m", memLag1m}, {"lag1d-res15m", memLag15m}} {
		b.Run(tc.name, func(b *testing.B) {
			var per float64
			for b.Loop() {
				per = seriesBytes(b, tc.cfg, 5000)
			}
			b.ReportMetric(per, "B/series")
		})
	}
}
