package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/segmentio/kafka-go"

	"github.com/flowguard/flowguard/internal/embedkafka"
	"github.com/flowguard/flowguard/internal/pgtest"
	"github.com/flowguard/flowguard/scorer"
	"github.com/flowguard/flowguard/store"
	"github.com/flowguard/flowguard/timeseries"
)

// arModel is a Gaussian AR(1) model of a single channel, a real model
// fitted by least squares in the tests:
//
//	x_t = mu + phi (x_{t-1} - mu) + e_t,  e_t ~ N(0, sigma^2)
//
// The first step of a window is scored under the stationary marginal
// N(mu, sigma^2 / (1 - phi^2)). P-values are conformal against sorted
// calibration scores: p = (1 + #{cal >= s}) / (n + 1).
type arModel struct {
	version        int
	w              int
	mu, phi, sigma float64
	cal            []float64 // ascending
}

func (m *arModel) Version() int      { return m.version }
func (m *arModel) Window() int       { return m.w }
func (m *arModel) Channels() int     { return 1 }
func (m *arModel) ContextWidth() int { return 0 }

// stepScore is -log N(x; mean, sd^2).
func stepScore(x, mean, sd float64) float64 {
	z := (x - mean) / sd
	return 0.5*z*z + math.Log(sd) + 0.5*math.Log(2*math.Pi)
}

// explain writes the W per-step scores of window x into dst.
func (m *arModel) explain(dst, x []float64) {
	dst[0] = stepScore(x[0], m.mu, m.sigma/math.Sqrt(1-m.phi*m.phi))
	for j := 1; j < len(x); j++ {
		dst[j] = stepScore(x[j], m.mu+m.phi*(x[j-1]-m.mu), m.sigma)
	}
}

func (m *arModel) pValue(s float64) float64 {
	i := sort.SearchFloat64s(m.cal, s) // first calibration score >= s
	return float64(1+len(m.cal)-i) / float64(len(m.cal)+1)
}

func (m *arModel) Score(_ context.Context, b *Batch, out *Scores) error {
	if b.C != 1 || b.W != m.w {
		return fmt.Errorf("ar model: batch is %dx%d", b.W, b.C)
	}
	out.Score = slices.Grow(out.Score[:0], b.N)[:b.N]
	out.PValue = slices.Grow(out.PValue[:0], b.N)[:b.N]
	out.Explain = slices.Grow(out.Explain[:0], b.N*b.W)[:b.N*b.W]
	for i := 0; i < b.N; i++ {
		e := out.Explain[i*b.W : (i+1)*b.W]
		m.explain(e, b.Windows[i*b.W:(i+1)*b.W])
		out.Score[i] = e[b.W-1]
		out.PValue[i] = m.pValue(out.Score[i])
	}
	return nil
}

// fitAR fits an AR(1) model to train and calibrates it on calib.
func fitAR(version, w int, train, calib [][]float64) *arModel {
	var n, sx, sy, sxx, sxy float64
	for _, x := range train {
		for t := 1; t < len(x); t++ {
			n++
			sx += x[t-1]
			sy += x[t]
			sxx += x[t-1] * x[t-1]
			sxy += x[t-1] * x[t]
		}
	}
	slope := (n*sxy - sx*sy) / (n*sxx - sx*sx)
	icept := (sy - slope*sx) / n
	var rss float64
	for _, x := range train {
		for t := 1; t < len(x); t++ {
			r := x[t] - icept - slope*x[t-1]
			rss += r * r
		}
	}
	m := &arModel{version: version, w: w, phi: slope, mu: icept / (1 - slope),
		sigma: math.Sqrt(rss / (n - 2))}
	e := make([]float64, w)
	for _, x := range calib {
		for i := w - 1; i < len(x); i++ {
			m.explain(e, x[i-w+1:i+1])
			m.cal = append(m.cal, e[w-1])
		}
	}
	sort.Float64s(m.cal)
	return m
}

// genSeries makes n points of an AR(1) process around level with phi 0.8
// and noise sd 1, plus spikes of +8 at the given indices.
func genSeries(rng *rand.Rand, n int, level float64, spikes ...int) []float64 {
	x := make([]float64, n)
	v := 0.0
	for i := range x {
		v = 0.8*v + rng.NormFloat64()
		x[i] = level + v
	}
	for _, i := range spikes {
		x[i] += 8
	}
	return x
}

// dataset is a set of series on a one-minute grid from t0.
type dataset struct {
	t0   time.Time
	keys []string
	ids  []timeseries.SeriesID
	vals [][]float64
}

func newDataset(seed uint64, nseries, npoints int) *dataset {
	rng := rand.New(rand.NewPCG(seed, 1))
	d := &dataset{t0: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	for s := 0; s < nseries; s++ {
		id := timeseries.NewSeriesID("temp", map[string]string{"host": fmt.Sprintf("h%02d", s)})
		d.ids = append(d.ids, id)
		d.keys = append(d.keys, id.Key())
		spikes := []int{(npoints/3 + 7*s%50) % npoints, (2*npoints/3 + 11*s%50) % npoints}
		d.vals = append(d.vals, genSeries(rng, npoints, 20, spikes...))
	}
	return d
}

// messages returns the JSON input messages of points [from, to) of every
// series, in time order.
func (d *dataset) messages(from, to int) []kafka.Message {
	var out []kafka.Message
	for i := from; i < to; i++ {
		for s, id := range d.ids {
			smp := timeseries.Sample{Series: id, Time: d.t0.Add(time.Duration(i) * time.Minute),
				Values: []float64{d.vals[s][i]}}
			// Keyed, so one series stays in one input partition and in
			// time order; unkeyed input needs Grid.Lateness.
			out = append(out, kafka.Message{Key: []byte(d.keys[s]),
				Value: timeseries.Encode(&smp)})
		}
	}
	return out
}

// expected scores every series offline, window by window, and returns the
// anomalies the detector must store: every point from the W-th to the
// one before last (the grid emits a step when the next one starts) that
// the default flagging policy (alpha and a run of 4) flags.
func (d *dataset) expected(m *arModel, alpha float64) map[string]store.Anomaly {
	return d.expectedBy(func(int) *arModel { return m }, alpha)
}

// expectedBy is expected with the model of point i given by pick; a nil
// model leaves the point unscored, as before a group has one.
func (d *dataset) expectedBy(pick func(i int) *arModel, alpha float64) map[string]store.Anomaly {
	out := map[string]store.Anomaly{}
	for s, x := range d.vals {
		pol := scorer.NewPolicy(scorer.PolicyConfig{Alpha: alpha})
		for i := range len(x) - 1 {
			m := pick(i)
			if m == nil || i < m.w-1 {
				continue
			}
			w := m.w
			e := make([]float64, w)
			m.explain(e, x[i-w+1:i+1])
			pv := m.pValue(e[w-1])
			dec := pol.Next(-math.Log(pv))
			if !dec.Flagged {
				continue
			}
			if dec.Surprise != -math.Log(pv) {
				pv = math.Exp(-dec.Surprise)
			}
			ts := d.t0.Add(time.Duration(i) * time.Minute)
			a := store.Anomaly{SeriesKey: d.keys[s], TS: ts, Value: []float64{x[i]},
				Score: e[w-1], PValue: pv, ModelVersion: m.version,
				Explanation: slices.Clone(e)}
			out[anomalyID(a)] = a
		}
	}
	return out
}

func anomalyID(a store.Anomaly) string {
	return a.SeriesKey + "@" + a.TS.UTC().Format(time.RFC3339)
}

// staticModels is a ModelSource whose champions the test sets.
type staticModels struct {
	mu sync.Mutex
	m  map[string]Model
}

func (s *staticModels) set(group string, m Model) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]Model{}
	}
	s.m[group] = m
}

func (s *staticModels) Champion(_ context.Context, group string) (Model, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.m[group]; m != nil {
		return m, nil
	}
	return nil, ErrNoModel
}

// recordingWriter passes results to a store, counting what it was given
// and what was new, and can be told to fail.
type recordingWriter struct {
	s         *store.Store
	calls     atomic.Int64
	failAfter atomic.Int64 // fail every call once this many anomalies were written; 0: never
	failures  atomic.Int64
	submitted atomic.Int64
	inserted  atomic.Int64
}

var errInjected = errors.New("injected write failure")

func (w *recordingWriter) SaveResults(ctx context.Context, r store.Results) (int64, error) {
	if fa := w.failAfter.Load(); fa > 0 && w.submitted.Load() >= fa {
		w.failures.Add(1)
		return 0, errInjected
	}
	n, err := w.s.SaveResults(ctx, r)
	if err != nil {
		w.failures.Add(1)
		return n, err
	}
	w.calls.Add(1)
	w.submitted.Add(int64(len(r.Anomalies)))
	w.inserted.Add(n)
	return n, nil
}

const (
	inputTopic   = "in"
	samplesTopic = "samples"
	deadTopic    = "dead"
)

type env struct {
	broker string
	store  *store.Store
	dbURL  string
}

func newEnv(t *testing.T, partitions int) *env {
	t.Helper()
	b, err := embedkafka.Start(embedkafka.Config{Partitions: partitions,
		Topics: []string{inputTopic, samplesTopic, deadTopic}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	dbURL := pgtest.NewDatabase(t)
	ctx := context.Background()
	s, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return &env{broker: b.Addr(), store: s, dbURL: dbURL}
}

func (e *env) produce(t *testing.T, topic string, msgs []kafka.Message) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(e.broker), Topic: topic, Balancer: &kafka.Hash{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond, BatchSize: 500}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
}

// stage runs fn in a goroutine; the returned stop cancels it and returns
// its error and how long it took to return. Calling stop again returns the
// same result.
func stage(fn func(context.Context) error) (stop func() (error, time.Duration)) {
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- fn(ctx) }()
	var once sync.Once
	var err error
	var took time.Duration
	return func() (error, time.Duration) {
		once.Do(func() {
			start := time.Now()
			cancel()
			err = <-errc
			took = time.Since(start)
		})
		return err, took
	}
}

func (e *env) ingest(t *testing.T, m *Metrics) func() (error, time.Duration) {
	t.Helper()
	in, err := NewIngest(IngestConfig{Brokers: []string{e.broker}, Topics: []string{inputTopic},
		Group: "ingest", Decoder: timeseries.NewJSONDecoder(timeseries.JSONConfig{}),
		SamplesTopic: samplesTopic, DeadLetterTopic: deadTopic, BatchSize: 300,
		StopTimeout: 5 * time.Second, SessionTimeout: 2 * time.Second,
		HeartbeatInterval: 200 * time.Millisecond}, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	return stage(in.Run)
}

const testWindow = 8

func detectorConfig(broker string) DetectorConfig {
	return DetectorConfig{
		Brokers: []string{broker}, Topic: samplesTopic, Group: "detect",
		Grid:  timeseries.Config{Step: time.Minute, Window: testWindow, MaxFill: 3},
		Alpha: 0.005, BatchSize: 200, BatchWait: 20 * time.Millisecond,
		StopTimeout: 3 * time.Second, LagInterval: 200 * time.Millisecond,
		SessionTimeout: 2 * time.Second, HeartbeatInterval: 200 * time.Millisecond,
		RebalanceTimeout: 2 * time.Second, ModelRetry: time.Hour,
	}
}

// waitFor polls cond every 50ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stored returns the anomalies in the database by id.
func (e *env) stored(t *testing.T) map[string]store.Anomaly {
	t.Helper()
	as, err := e.store.ListAnomalies(context.Background(), 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]store.Anomaly, len(as))
	for _, a := range as {
		out[anomalyID(a)] = a
	}
	return out
}

// compareAnomalies reports every difference between the stored and the
// expected anomalies.
func compareAnomalies(t *testing.T, got, want map[string]store.Anomaly) {
	t.Helper()
	for id, w := range want {
		g, ok := got[id]
		if !ok {
			t.Errorf("missing anomaly %s (p %.5f)", id, w.PValue)
			continue
		}
		if g.Score != w.Score || g.PValue != w.PValue || g.Value[0] != w.Value[0] ||
			g.ModelVersion != w.ModelVersion || !slices.Equal(g.Explanation, w.Explanation) {
			t.Errorf("anomaly %s stored as %+v, want %+v", id, g, w)
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			t.Errorf("unexpected anomaly %s", id)
		}
	}
}

// committed returns the group's committed offsets of topic by partition.
func committed(t *testing.T, broker, group, topic string, partitions int) map[int]int64 {
	t.Helper()
	cl := &kafka.Client{Addr: kafka.TCP(broker), Timeout: 5 * time.Second}
	parts := make([]int, partitions)
	for i := range parts {
		parts[i] = i
	}
	res, err := cl.OffsetFetch(context.Background(), &kafka.OffsetFetchRequest{GroupID: group,
		Topics: map[string][]int{topic: parts}})
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]int64{}
	for _, p := range res.Topics[topic] {
		out[p.Partition] = p.CommittedOffset
	}
	return out
}

// proxy forwards TCP connections to target until down is called, and
// refuses them (the port is closed) until up.
type proxy struct {
	t      *testing.T
	addr   string
	target string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, addr: ln.Addr().String(), target: target}
	p.serve(ln)
	t.Cleanup(p.down)
	return p
}

func (p *proxy) serve(ln net.Listener) {
	p.ln = ln
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(u, c); u.Close() }()
			go func() { _, _ = io.Copy(c, u); c.Close() }()
		}
	}()
}

// down closes the port and every forwarded connection.
func (p *proxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// up opens the port again.
func (p *proxy) up() {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("proxy up: %v", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.serve(ln)
}

// value reads a counter or gauge.
func value(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		panic(err)
	}
	switch {
	case d.Counter != nil:
		return d.Counter.GetValue()
	case d.Gauge != nil:
		return d.Gauge.GetValue()
	}
	panic("value: not a counter or gauge")
}

// testLog logs to the test's output.
func testLog(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func errorsIsNoModel(err error) bool { return errors.Is(err, ErrNoModel) }
