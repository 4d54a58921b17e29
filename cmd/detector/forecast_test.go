package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowguard/flowguard/flowmodel"
	"github.com/flowguard/flowguard/forecast"
	"github.com/flowguard/flowguard/internal/pgtest"
	"github.com/flowguard/flowguard/scorer"
	"github.com/flowguard/flowguard/store"
	"github.com/flowguard/flowguard/timeseries"
)

// writeSeasonalCSV writes 10 days of a 30-minute series with a daily cycle
// and noise, in NAB's layout.
func writeSeasonalCSV(t *testing.T) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	b.WriteString("timestamp,value\n")
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 10 * 48 {
		ts := start.Add(time.Duration(i) * 30 * time.Minute)
		v := 100 + 20*math.Sin(2*math.Pi*float64(i)/48) + 2*rng.NormFloat64()
		fmt.Fprintf(&b, "%s,%.3f\n", ts.Format("2006-01-02 15:04:05"), v)
	}
	path := filepath.Join(t.TempDir(), "series.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestForecastCommand(t *testing.T) {
	csv := writeSeasonalCSV(t)
	chart := filepath.Join(t.TempDir(), "fan.svg")
	var out, errOut strings.Builder
	err := Run(context.Background(), []string{"forecast", "--csv", csv, "--horizon", "12",
		"--paths", "200", "--lags", "24h", "--hidden", "16", "--layers", "2",
		"--epochs", "150", "--chart", chart}, &out, &errOut, envOf(nil))
	if err != nil {
		t.Fatalf("forecast: %v\n%s", err, errOut.String())
	}
	var fc struct {
		Origin    time.Time
		Times     []time.Time
		Levels    []float64
		Quantiles [][]float64
		Mean      []float64
		NumPaths  int `json:"num_paths"`
	}
	if err := json.Unmarshal([]byte(out.String()), &fc); err != nil {
		t.Fatalf("output is not JSON: %v\n%.300s", err, out.String())
	}
	wantOrigin := time.Date(2024, 1, 10, 23, 30, 0, 0, time.UTC)
	if !fc.Origin.Equal(wantOrigin) || len(fc.Times) != 12 || fc.NumPaths != 200 ||
		len(fc.Quantiles) != 3 || len(fc.Quantiles[0]) != 12 {
		t.Fatalf("forecast shape: origin %v, %d times, %d paths, %d levels", fc.Origin,
			len(fc.Times), fc.NumPaths, len(fc.Quantiles))
	}
	for k := range 12 {
		lo, mid, hi := fc.Quantiles[0][k], fc.Quantiles[1][k], fc.Quantiles[2][k]
		if !(lo < mid && mid < hi) {
			t.Errorf("step %d: quantiles %v %v %v not increasing", k+1, lo, mid, hi)
		}
		// The next half day follows the daily cycle: 100 + 20 sin(...).
		want := 100 + 20*math.Sin(2*math.Pi*float64(480+k)/48)
		if math.Abs(mid-want) > 10 {
			t.Errorf("step %d: median %.1f, the cycle is at %.1f", k+1, mid, want)
		}
	}
	svg, err := os.ReadFile(chart)
	if err != nil || !strings.Contains(string(svg), "<svg") {
		t.Fatalf("chart: %v, %.100s", err, svg)
	}

	out.Reset()
	errOut.Reset()
	err = Run(context.Background(), []string{"forecast", "backtest", "--csv", csv,
		"--horizon", "12", "--paths", "100", "--lags", "24h", "--hidden", "16",
		"--layers", "2", "--epochs", "15", "--train_frac", "0.6", "--recent", "0"},
		&out, &errOut, envOf(nil))
	if err != nil {
		t.Fatalf("backtest: %v\n%s", err, errOut.String())
	}
	var rep struct {
		Origins int
		Flow    struct{ CRPS, Coverage float64 }
		Naive   struct{ CRPS float64 }
		Widened *struct{ Coverage float64 }
	}
	if err := json.Unmarshal([]byte(out.String()), &rep); err != nil {
		t.Fatal(err)
	}
	// 480 steps, training share 288: origins 287, 299, ... up to 467.
	if rep.Origins != 16 || rep.Widened == nil || !(rep.Flow.CRPS > 0) ||
		!(rep.Naive.CRPS > 0) {
		t.Fatalf("backtest report %+v", rep)
	}
	if !strings.Contains(errOut.String(), "CRPS flow") {
		t.Errorf("no summary on stderr: %q", errOut.String())
	}
}

// smallModel fits a small flow of window 4 on samples and returns its
// model file's bytes.
func smallModel(t *testing.T, samples []timeseries.Sample) []byte {
	t.Helper()
	m, err := scorer.Fit(context.Background(), [][]timeseries.Sample{samples},
		scorer.Options{Window: 4, Spec: flowmodel.Spec{Hidden: 16, Layers: 2},
			Train: flowmodel.TrainOptions{Epochs: 5}, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	art, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return art
}

// TestForecastFromRegistry forecasts with a group's champion read from
// the database, and with the same model from a file: one seed, one model,
// one answer.
func TestForecastFromRegistry(t *testing.T) {
	ctx := context.Background()
	csv := writeSeasonalCSV(t)
	samples, err := readCSV(csv)
	if err != nil {
		t.Fatal(err)
	}
	art := smallModel(t, samples)
	dbURL := pgtest.NewDatabase(t)
	publish(t, dbURL, "taxi", art)
	file := filepath.Join(t.TempDir(), "model.bin")
	if err := os.WriteFile(file, art, 0o600); err != nil {
		t.Fatal(err)
	}

	run := func(args ...string) string {
		var out, errOut strings.Builder
		args = append([]string{"forecast", "--csv", csv, "--horizon", "5", "--paths", "50"},
			args...)
		env := envOf(map[string]string{"FLOWGUARD_DATABASE_URL": dbURL})
		if err := Run(ctx, args, &out, &errOut, env); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, errOut.String())
		}
		return out.String()
	}
	fromDB, fromFile := run("--group", "taxi"), run("--model", file)
	if fromDB != fromFile || !strings.Contains(fromDB, `"num_paths": 50`) {
		t.Fatalf("champion and file forecasts differ or are wrong:\n%.300s\n%.300s",
			fromDB, fromFile)
	}
	var errOut strings.Builder
	err = Run(ctx, []string{"forecast", "--csv", csv, "--group", "none"}, io.Discard,
		&errOut, envOf(map[string]string{"FLOWGUARD_DATABASE_URL": dbURL}))
	if !errors.Is(err, store.ErrNoModel) {
		t.Fatalf("unknown group: %v, want ErrNoModel", err)
	}
}

// TestForecastRanges: a horizon or a path count out of range is refused
// with the range; 0 is not a silent default.
func TestForecastRanges(t *testing.T) {
	csv := writeSeasonalCSV(t)
	for _, tc := range []struct{ flag, value, want string }{
		{"--horizon", "0", "--horizon 0: want 1 to 10000 steps"},
		{"--horizon", "-3", "--horizon -3: want 1 to 10000 steps"},
		{"--paths", "0", "--paths 0: want 1 to 100000"},
		{"--paths", "100001", "--paths 100001: want 1 to 100000"},
	} {
		for _, sub := range [][]string{{"forecast"}, {"forecast", "backtest"}} {
			args := append(append([]string{}, sub...), "--csv", csv, tc.flag, tc.value)
			err := Run(context.Background(), args, io.Discard, io.Discard, envOf(nil))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%v: err %v, want %q", args, err, tc.want)
			}
		}
	}
}

// writeCSVAt writes 10 days of the daily cycle of writeSeasonalCSV, one
// row every step, every value times scale.
func writeCSVAt(t *testing.T, step time.Duration, scale float64) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	b.WriteString("timestamp,value\n")
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for ts := start; ts.Before(start.Add(10 * 24 * time.Hour)); ts = ts.Add(step) {
		day := float64(ts.Sub(start)) / float64(24*time.Hour)
		v := 100 + 20*math.Sin(2*math.Pi*day) + 2*rng.NormFloat64()
		fmt.Fprintf(&b, "%s,%.3f\n", ts.Format("2006-01-02 15:04:05"), scale*v)
	}
	path := filepath.Join(t.TempDir(), "series.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestForecastHistoryChecks: with a model file fitted on a 30-minute
// series, a history at 1000 times its scale is forecast with a warning
// (JSON and stderr), a 4-hourly history is refused for its step, not as
// too short (a 2-hourly one is not: the grid fills its gaps of 3 steps),
// and levels out of order come back sorted.
func TestForecastHistoryChecks(t *testing.T) {
	ctx := context.Background()
	samples, err := readCSV(writeCSVAt(t, 30*time.Minute, 1))
	if err != nil {
		t.Fatal(err)
	}
	art := smallModel(t, samples)
	model := filepath.Join(t.TempDir(), "model.bin")
	if err := os.WriteFile(model, art, 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(csv string, args ...string) (string, string, error) {
		var out, errOut strings.Builder
		args = append([]string{"forecast", "--csv", csv, "--model", model, "--horizon", "4",
			"--paths", "100"}, args...)
		err := Run(ctx, args, &out, &errOut, envOf(nil))
		return out.String(), errOut.String(), err
	}
	var fc struct {
		Levels   []float64
		Warnings []string
	}

	out, errOut, err := run(writeCSVAt(t, 30*time.Minute, 1), "--levels", "0.9,0.1")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(out), &fc); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(fc.Levels, []float64{0.1, 0.9}) || len(fc.Warnings) != 0 ||
		strings.Contains(errOut, "warning") {
		t.Errorf("own scale, --levels 0.9,0.1: levels %v, warnings %q, stderr %q; want "+
			"0.1, 0.9 and no warning", fc.Levels, fc.Warnings, errOut)
	}

	out, errOut, err = run(writeCSVAt(t, 30*time.Minute, 1000))
	if err != nil {
		t.Fatal(err)
	}
	fc.Warnings = nil
	if err := json.Unmarshal([]byte(out), &fc); err != nil {
		t.Fatal(err)
	}
	const far = "channel 0: the history is far outside the model's training data"
	if len(fc.Warnings) != 1 || !strings.HasPrefix(fc.Warnings[0], far) ||
		!strings.Contains(errOut, "forecast: warning: "+far) {
		t.Errorf("1000x the scale: warnings %q, stderr %q; want the warning in both",
			fc.Warnings, errOut)
	}

	_, _, err = run(writeCSVAt(t, 4*time.Hour, 1))
	want := "forecast: history step differs from the model's: the history's steps are " +
		"4h0m0s apart (median), the model's grid step is 30m0s"
	if !errors.Is(err, forecast.ErrStepMismatch) || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("4-hourly CSV, 30-minute model: %v, want it to start %q", err, want)
	}

	for _, levels := range []string{"0.5,0.5", "0.5,1"} {
		if _, _, err := run(writeCSVAt(t, 30*time.Minute, 1), "--levels", levels); err == nil ||
			!strings.HasPrefix(err.Error(), "forecast: --levels: ") {
			t.Errorf("--levels %s: %v, want refused", levels, err)
		}
	}
}

// TestForecastExtremeValue is the new-user trial: a CSV whose second-last
// value is -1e308, the largest float64 or 1e300. The forecast, fitted on
// the CSV, refuses with the value, its time and why, instead of failing
// in the JSON encoder (-1e308) or printing quantiles of 1e298 with
// "clamped": 0 (1e300); the backtest leaves the one origin whose outcome
// it is out, says so, and prints finite scores, not CRPS NaN.
func TestForecastExtremeValue(t *testing.T) {
	csv := writeSeasonalCSV(t)
	b, err := os.ReadFile(csv)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	row := len(lines) - 2 // the step before the newest
	orig := lines[row]
	ts, _, _ := strings.Cut(orig, ",")
	small := []string{"--hidden", "16", "--layers", "2", "--epochs", "5", "--lags", "24h"}
	for _, g := range []string{"-1e308", "1.7976931348623157e308", "1e300"} {
		lines[row] = ts + "," + g
		path := filepath.Join(t.TempDir(), "glitch.csv")
		if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		var out, errOut strings.Builder
		err := Run(context.Background(), append([]string{"forecast", "--csv", path,
			"--horizon", "2", "--paths", "200"}, small...), &out, &errOut, envOf(nil))
		v, _ := strconv.ParseFloat(g, 64)
		want := fmt.Sprintf("forecast: the history holds an extreme value: %v at %s (channel "+
			"0) lies more than 1000 ranges outside the model's training values", v,
			strings.Replace(ts, " ", "T", 1)+"Z")
		if !errors.Is(err, forecast.ErrExtremeHistory) || !strings.HasPrefix(err.Error(), want) ||
			out.Len() != 0 {
			t.Errorf("forecast, glitch %s: err %v, stdout %.200q; want no JSON and an error "+
				"starting %q", g, err, out.String(), want)
		}

		// A day before the forecast, the glitch is in the 24h lag context
		// only: it is left out of it, with a warning, and the forecast
		// follows the daily cycle (see TestForecastCommand).
		day := slices.Clone(lines)
		day[row] = orig
		dts, _, _ := strings.Cut(day[len(day)-48], ",")
		day[len(day)-48] = dts + "," + g
		if err := os.WriteFile(path, []byte(strings.Join(day, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		out.Reset()
		errOut.Reset()
		err = Run(context.Background(), append([]string{"forecast", "--csv", path,
			"--horizon", "2", "--paths", "200"}, small...), &out, &errOut, envOf(nil))
		var fc struct {
			Quantiles [][]float64
			Warnings  []string
		}
		if err == nil {
			err = json.Unmarshal([]byte(out.String()), &fc)
		}
		lag := fmt.Sprintf("1 extreme history value(s), the newest %v at %s", v,
			strings.Replace(dts, " ", "T", 1)+"Z")
		if err != nil || len(fc.Warnings) != 1 || !strings.Contains(fc.Warnings[0], lag) {
			t.Errorf("forecast, glitch %s a day back: err %v, warnings %q; want one "+
				"saying %q", g, err, fc.Warnings, lag)
		} else {
			for k := range 2 {
				want := 100 + 20*math.Sin(2*math.Pi*float64(480+k)/48)
				if mid := fc.Quantiles[1][k]; !(math.Abs(mid-want) < 15) {
					t.Errorf("glitch %s a day back: step %d median %v, the cycle is at %.1f",
						g, k+1, mid, want)
				}
			}
		}
		if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}

		out.Reset()
		errOut.Reset()
		err = Run(context.Background(), append([]string{"forecast", "backtest", "--csv", path,
			"--horizon", "2", "--paths", "100", "--train_frac", "0.6"}, small...),
			&out, &errOut, envOf(nil))
		if err != nil {
			t.Errorf("backtest, glitch %s: %v\n%s", g, err, errOut.String())
			continue
		}
		var rep struct {
			Origins, Unscorable int
			FirstUnscorable     string `json:"first_unscorable"`
			Flow, Naive         struct{ CRPS float64 }
		}
		if err := json.Unmarshal([]byte(out.String()), &rep); err != nil {
			t.Fatalf("backtest, glitch %s: %v\n%.300s", g, err, out.String())
		}
		// 480 steps, training share 288: origins 287, 289, ..., 477, and
		// the outcomes of 477 are steps 478 (the glitch) and 479.
		if rep.Origins != 95 || rep.Unscorable != 1 ||
			!strings.Contains(rep.FirstUnscorable, "the outcome "+strconv.FormatFloat(v, 'g',
				-1, 64)) || !strings.Contains(errOut.String(), "1 origin(s) left out") {
			t.Errorf("backtest, glitch %s: %+v, stderr %q; want 95 origins and 477 left "+
				"out for its outcome", g, rep, errOut.String())
		}
		if !(rep.Flow.CRPS > 0 && rep.Flow.CRPS < 10) || !(rep.Naive.CRPS > 0 &&
			rep.Naive.CRPS < 10) || strings.Contains(errOut.String(), "NaN") {
			t.Errorf("backtest, glitch %s: CRPS flow %v naive %v, stderr %q", g,
				rep.Flow.CRPS, rep.Naive.CRPS, errOut.String())
		}
	}
}

// TestWriteJSON: a number JSON cannot carry is a clear error and nothing
// is written, not half a document and json's bare "unsupported value".
func TestWriteJSON(t *testing.T) {
	var out strings.Builder
	err := writeJSON(&out, forecast.Forecast{Mean: []float64{1, math.NaN()}})
	want := "forecast: the result cannot be written as JSON, which has no NaN or " +
		"infinity: json: unsupported value: NaN"
	if err == nil || err.Error() != want || out.Len() != 0 {
		t.Errorf("NaN mean: err %v, wrote %q; want %q and nothing", err, out.String(), want)
	}
	if err := writeJSON(&out, forecast.Forecast{Mean: []float64{1.5}}); err != nil ||
		!strings.Contains(out.String(), "\"mean\": [\n    1.5\n  ]") {
		t.Errorf("finite mean: err %v, wrote %q", err, out.String())
	}
}
