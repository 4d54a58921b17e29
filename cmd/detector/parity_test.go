package main

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/flowguard/flowguard/demo"
	"github.com/flowguard/flowguard/evaluate"
	"github.com/flowguard/flowguard/internal/pgtest"
	"github.com/flowguard/flowguard/scorer"
	"github.com/flowguard/flowguard/timeseries"
)

// TestDetectorFlagsAsEvaluate checks that "detector evaluate" measures the
// service: one NAB file goes through evaluate.Replay with the profile's
// settings and through "detector run" (ingest, Kafka, grid, model,
// level and run tests) configured by the flags the README gives for
// that profile, with the model evaluate fits first as champion. Retraining
// and live calibration are off on both sides: jobs finish at
// trainer-dependent times, and the detector learns scores batch by
// batch where a replay learns them point by point. Every point after the
// probationary period (and the run test's first points) must be flagged by
// both or by neither, with the same p-value.
func TestDetectorFlagsAsEvaluate(t *testing.T) {
	const file = "realKnownCause/ec2_request_latency_system_failure.csv"
	ss, err := demo.ReadCSV(nabPath(t, file))
	if err != nil {
		t.Fatal(err)
	}
	rows := make([]evaluate.Row, len(ss))
	for i, s := range ss {
		rows[i] = evaluate.Row{Time: s.Time, Value: s.Values[0]}
	}
	set := evaluate.DefaultSettings()
	set.NoRetrain, set.LiveCalibration = true, 0
	ctx := context.Background()
	pts, st, err := evaluate.Replay(ctx, rows, set)
	if err != nil {
		t.Fatal(err)
	}

	// Replay's first model: the fit options on the probationary rows.
	step := scorer.MedianSpacing(ss[:st.Probation])
	opt := set.Fit
	opt.Group, opt.Step, opt.Window, opt.MaxFill = "default", step, set.Window, set.MaxFill
	opt.Calendar, opt.Lags = scorer.Off, set.Lags
	m, err := scorer.Fit(ctx, [][]timeseries.Sample{ss[:st.Probation]}, opt)
	if err != nil {
		t.Fatal(err)
	}
	art, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	db := pgtest.NewDatabase(t)
	publish(t, db, "default", art)

	lags := ""
	for i, l := range set.Lags {
		if i > 0 {
			lags += ","
		}
		lags += l.String()
	}
	broker, _, _ := runEmbedded(t, db, "--kafka.partitions=1",
		"--scoring.step="+step.String(), fmt.Sprintf("--scoring.window=%d", set.Window),
		fmt.Sprintf("--scoring.max_fill=%d", set.MaxFill), "--scoring.lags="+lags,
		fmt.Sprintf("--scoring.alpha=%g", set.Policy.Alpha),
		fmt.Sprintf("--scoring.run=%d", set.Policy.Run), "--scoring.live_calibration=0",
		"--drift.enabled=false", "--alerts.enabled=false", "--database.migrate=false")
	w := inputWriter(broker)
	defer w.Close()
	writeSamples(t, w, ss)
	s := openStore(t, ctx, db)
	defer s.Close()
	as := scoredAnomalies(t, s, ss, step)
	last, _ := demo.LastStep(ss, step)

	// The run test pools the last Run surprises: the detector's include
	// the probationary points it scored, the replay's do not.
	from := rows[st.Probation+set.Policy.Run].Time
	// The detector's times are grid steps' starts; this file's rows are a
	// minute past them.
	stepOf := func(ts time.Time) int64 { return ts.UnixNano() / int64(step) }
	live := map[int64]float64{}
	for _, a := range as {
		if stepOf(a.TS) >= stepOf(from) {
			live[stepOf(a.TS)] = a.PValue
		}
	}
	flagged, both := 0, 0
	for i, p := range pts {
		ts := rows[i].Time
		if stepOf(ts) < stepOf(from) || stepOf(ts) > stepOf(last) ||
			!(p.PValue < set.Policy.Alpha) {
			continue
		}
		flagged++
		pv, ok := live[stepOf(ts)]
		if !ok {
			t.Errorf("%v: evaluate flagged p = %.3g, the detector did not", ts, p.PValue)
			continue
		}
		both++
		if d := math.Abs(math.Log(pv) - math.Log(p.PValue)); d > 1e-6 {
			t.Errorf("%v: p-value %.6g in the detector, %.6g in evaluate", ts, pv, p.PValue)
		}
		delete(live, stepOf(ts))
	}
	for k, pv := range live {
		t.Errorf("%v: the detector flagged p = %.3g, evaluate did not",
			time.Unix(0, k*int64(step)).UTC(), pv)
	}
	t.Logf("%d rows, probation %d: %d points flagged by evaluate, %d of them by the detector",
		len(rows), st.Probation, flagged, both)
	if flagged < 3 {
		t.Fatalf("evaluate flagged %d points; the comparison needs some", flagged)
	}
}
