package pipeline

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/flowguard/flowguard/store"
	"github.com/flowguard/flowguard/timeseries"
	"github.com/flowguard/flowguard/training"
)

// scoredLog records every point a model scored, by series and time, with
// the version that scored it.
type scoredLog struct {
	mu  sync.Mutex
	pts map[string][]int // series@time -> versions
	n   map[int]int      // points per version
}

func (l *scoredLog) add(b *Batch, version int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range b.N {
		id := b.Series[i] + "@" + b.Times[i].UTC().Format(time.RFC3339)
		l.pts[id] = append(l.pts[id], version)
	}
	l.n[version] += b.N
}

func (l *scoredLog) count(version int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n[version]
}

// loggedModel is a DriftModel that records what it scores.
type loggedModel struct {
	DriftModel
	log *scoredLog
}

func (m *loggedModel) Score(ctx context.Context, b *Batch, out *Scores) error {
	err := m.DriftModel.Score(ctx, b, out)
	if err == nil {
		m.log.add(b, m.Version())
	}
	return err
}

// sampleMessages encodes the samples as the ingest stage writes them to
// the samples topic: canonical JSON keyed by series, in time order.
func sampleMessages(series [][]timeseries.Sample) []kafka.Message {
	var out []kafka.Message
	for i := range series[0] {
		for _, ss := range series {
			out = append(out, kafka.Message{Key: []byte(ss[i].Series.Key()),
				Value: timeseries.Encode(&ss[i])})
		}
	}
	return out
}

// TestDriftRetrainAndSwap runs the model lifecycle end to end, with
// PostgreSQL, the in-process Kafka broker over TCP, a detector and a
// trainer (training.Worker, in this process, replaying the samples topic
// from Kafka):
//
//   - two AR(1) series at level 10, sd 1 are scored by a champion fitted
//     on that process; then their level moves to 16 and sd to 3;
//   - the detector raises one drift event and, SettleSteps later, files one
//     drift job; the trainer fits a candidate on the recent data, which
//     beats the champion on the held-out newest data and is promoted;
//   - the detector swaps it in on the notification, and its flag rate on
//     the new behaviour is within 2x of alpha;
//   - every point is scored exactly once across the swap.
//
// The cool-down is 1ms, so any further alarm would be recorded: one event
// means one alarm.
func TestDriftRetrainAndSwap(t *testing.T) {
	e := newEnv(t, 2)
	ctx := context.Background()
	gen := newARStream(7, 2, 10, 1)
	champ, _ := fitDriftModel(t, gen.take(1500), 1)
	if _, ok, err := training.Publish(ctx, e.store, champ, nil, nil, "test champion"); err != nil ||
		!ok {
		t.Fatalf("publish champion: %v, %v", ok, err)
	}
	stationary := gen.take(1000)
	gen.mu, gen.sigma = 16, 3
	changed := gen.take(1500)
	after := gen.take(1500)

	scored := &scoredLog{pts: map[string][]int{}, n: map[int]int{}}
	grid := driftGrid()
	decode := FlowDecoder(grid)
	reg := &Registry{Store: e.store, Grid: grid,
		Decode: func(artifact []byte, version int) (Model, error) {
			m, err := decode(artifact, version)
			if err != nil {
				return nil, err
			}
			return &loggedModel{DriftModel: m.(DriftModel), log: scored}, nil
		}}
	cfg := detectorConfig(e.broker)
	cfg.Grid, cfg.Alpha = grid, 0.01
	// The alarm comes 200 to 320 steps after the change, as the two
	// series interleave in the monitor's window by batch; a 1000-step
	// settle keeps its job inside the 1500 changed steps.
	cfg.Drift = DriftConfig{Enabled: true, SettleSteps: 1000, Cooldown: time.Millisecond}
	m := NewMetrics(nil)
	d, err := NewDetector(cfg, e.store, reg, reg, m, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	stopDetector := stage(d.Run)
	defer stopDetector()
	stopWatch := stage(func(ctx context.Context) error {
		return WatchModels(ctx, e.store, d, 500*time.Millisecond, nil)
	})
	defer stopWatch()

	wcfg := training.DefaultWorkerConfig()
	wcfg.Brokers, wcfg.Topic, wcfg.Poll = []string{e.broker}, samplesTopic, time.Second
	wcfg.Fit.Train.Epochs, wcfg.LookbackSteps = 40, 1600
	worker, err := training.NewWorker(e.store, wcfg, testLog(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	stopWorker := stage(worker.Run)
	defer stopWorker()

	start := time.Now()
	e.produce(t, samplesTopic, sampleMessages(stationary))
	e.produce(t, samplesTopic, sampleMessages(changed))
	var job store.Job
	waitFor(t, 60*time.Second, "the drift job to finish", func() bool {
		evs, err := e.store.DriftEvents(ctx, DefaultGroup)
		if err != nil || len(evs) == 0 || evs[0].JobID == nil {
			return false
		}
		job, err = e.store.Job(ctx, *evs[0].JobID)
		return err == nil && (job.State == store.JobDone || job.State == store.JobFailed)
	})
	t.Logf("drift job finished %v after the first sample", time.Since(start).Round(time.Millisecond))
	waitFor(t, 10*time.Second, "the swap to v2", func() bool {
		return d.ModelVersions()[DefaultGroup] == 2
	})
	v1AtSwap := scored.count(1)
	e.produce(t, samplesTopic, sampleMessages(after))
	total := 2 * (1000 + 1500 + 1500 - driftWindow) // the newest step is not emitted
	waitFor(t, 30*time.Second, "every point scored", func() bool {
		return scored.count(1)+scored.count(2) >= total
	})
	if err, _ := stopDetector(); err != nil {
		t.Fatal(err)
	}

	// One drift event of v1, with its job.
	evs, err := e.store.DriftEvents(ctx, "")
	if err != nil || len(evs) != 1 {
		t.Fatalf("drift events %+v (%v), want one", evs, err)
	}
	ev := evs[0]
	t.Logf("drift event: %+v", ev)
	if ev.ModelVersion != 1 || ev.Window != 1000 || !(ev.Statistic > ev.Threshold) ||
		*ev.JobID != job.ID {
		t.Fatalf("drift event %+v, job %d", ev, job.ID)
	}
	counts, err := e.store.JobCounts(ctx)
	if err != nil || counts[store.JobDone] != 1 || len(counts) != 1 {
		t.Fatalf("jobs by state %v (%v), want one done", counts, err)
	}
	var det struct {
		DriftDetails
		Outcome training.Outcome `json:"outcome"`
	}
	if err := json.Unmarshal(job.Details, &det); err != nil {
		t.Fatal(err)
	}
	t.Logf("job: reason %s, from %v to %v, alarm %v; outcome: %s", job.Reason, job.From,
		job.To, det.Alarm, det.Outcome.Reason)
	changeAt := changed[0][0].Time
	if job.Reason != store.ReasonDrift || det.Statistic != ev.Statistic ||
		det.WindowSize != 1000 || len(det.Series) != 2 || det.Step != "1m0s" ||
		det.Alarm.Before(changeAt) || job.To.Before(det.Alarm.Add(1000*time.Minute)) {
		t.Fatalf("job %+v with details %+v", job, det)
	}
	if !det.Outcome.Promoted || det.Outcome.Version != 2 {
		t.Fatalf("candidate not promoted: %+v", det.Outcome)
	}
	t.Logf("alarm %v after the change", det.Alarm.Sub(changeAt))

	// Every point scored once.
	var missing, twice int
	for s := range 2 {
		var all []timeseries.Sample
		all = append(append(append(all, stationary[s]...), changed[s]...), after[s]...)
		for i := driftWindow - 1; i < len(all)-1; i++ {
			id := all[i].Series.Key() + "@" + all[i].Time.UTC().Format(time.RFC3339)
			switch n := len(scored.pts[id]); {
			case n == 0:
				missing++
			case n > 1:
				twice++
			}
		}
	}
	if missing != 0 || twice != 0 || len(scored.pts) != total {
		t.Fatalf("%d points never scored, %d scored more than once, %d scored, want %d",
			missing, twice, len(scored.pts), total)
	}

	// Flag rates: v1 on the new behaviour, v2 after the swap.
	flags := map[int]int{}
	for _, a := range e.stored(t) {
		flags[a.ModelVersion]++
	}
	n2 := scored.count(2)
	rate2 := float64(flags[2]) / float64(n2)
	t.Logf("v1 scored %d points (%d when v2 was in), flagged %d; v2 scored %d, flagged %d: "+
		"rate %.4f (alpha %.2f)", scored.count(1), v1AtSwap, flags[1], n2, flags[2], rate2,
		cfg.Alpha)
	if n2 < 2*1500-2 || rate2 > 2*cfg.Alpha {
		t.Fatalf("v2 flag rate %.4f over %d points, want at most 2 alpha = %.2f", rate2, n2,
			2*cfg.Alpha)
	}
	if got := value(m.driftEvents.WithLabelValues(DefaultGroup)); got != 1 {
		t.Errorf("drift events counter %v, want 1", got)
	}
	if got := value(m.driftJobs.WithLabelValues(DefaultGroup)); got != 1 {
		t.Errorf("drift jobs counter %v, want 1", got)
	}
	if got := value(m.modelVersion.WithLabelValues(DefaultGroup)); got != 2 {
		t.Errorf("model version gauge %v, want 2", got)
	}
	waitFor(t, 5*time.Second, "the retrain jobs gauge", func() bool {
		return value(m.retrainJobs.WithLabelValues(store.JobDone)) == 1 &&
			value(m.retrainJobs.WithLabelValues(store.JobPending)) == 0
	})
	stat := value(m.driftStatistic.WithLabelValues(DefaultGroup))
	t.Logf("drift statistic of v2's last window: %.4f", stat)
}
