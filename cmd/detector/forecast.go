package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flowguard/flowguard/flowmodel"
	"github.com/flowguard/flowguard/forecast"
	"github.com/flowguard/flowguard/internal/config"
	"github.com/flowguard/flowguard/scorer"
	"github.com/flowguard/flowguard/store"
	"github.com/flowguard/flowguard/timeseries"
)

// forecastSettings are the flags of "detector forecast".
type forecastSettings struct {
	Database  config.Database `yaml:"database"`
	CSV       string          `yaml:"csv" help:"series to forecast: CSV of timestamp,value[,value...] (NAB layout)"`
	Model     string          `yaml:"model" help:"model file to use; empty: --group's champion, or fit one on the CSV"`
	Group     string          `yaml:"group" help:"model group whose champion (from the database) forecasts"`
	Horizon   int             `yaml:"horizon" help:"steps to forecast"`
	Paths     int             `yaml:"paths" help:"sampled futures"`
	Levels    string          `yaml:"levels" help:"quantile levels in (0, 1), comma-separated, none twice; reported in ascending order"`
	KeepPaths bool            `yaml:"keep_paths" help:"print every sampled path too"`
	Seed      int64           `yaml:"seed" help:"seed of the sampling (and of the fit)"`
	Chart     string          `yaml:"chart" help:"write a fan chart to this .svg or .png file"`
	// Settings of a model fitted on the CSV.
	Window      int     `yaml:"window" help:"fit: steps per window"`
	Lags        string  `yaml:"lags" help:"fit: seasonal lags, comma-separated durations"`
	Calendar    string  `yaml:"calendar" help:"fit: hour and weekday context: auto, on or off"`
	Hidden      int     `yaml:"hidden" help:"fit: width of the MADE hidden layers"`
	Layers      int     `yaml:"layers" help:"fit: flow layers"`
	LayerType   string  `yaml:"layer_type" help:"fit: affine or spline; empty: the scorer's default"`
	Epochs      int     `yaml:"epochs" help:"fit: training epochs at most"`
	WeightDecay float64 `yaml:"weight_decay" help:"fit: AdamW weight decay"`
	TrainFrac   float64 `yaml:"train_frac" help:"backtest: share of the CSV the fitted model trains on"`
	// Settings of "forecast backtest".
	Season int     `yaml:"season" help:"backtest: season of the naive baseline, in steps; 0: one day"`
	Stride int     `yaml:"stride" help:"backtest: steps between origins; 0: the horizon"`
	Level  float64 `yaml:"level" help:"backtest: central interval whose coverage is reported"`
	Spread bool    `yaml:"spread" help:"backtest: also fit a conformal spread on held-out origins"`
	Online bool    `yaml:"online" help:"backtest: refit the spread as outcomes become known"`
	Recent int     `yaml:"recent" help:"backtest: newest held-out origins the spread keeps; 0: all"`
}

const forecastUsage = "detector forecast [backtest]"

// heldOutFrac is the share of a fitted model's data kept out of training:
// half validation (early stopping), half calibration.
const heldOutFrac = 0.3

// runForecast forecasts the steps after the end of a CSV series, or with
// "backtest" evaluates forecasts by rolling origin, and prints JSON.
func runForecast(ctx context.Context, args []string, stdout, stderr io.Writer,
	getenv func(string) string) error {
	cfg := forecastSettings{Horizon: 48, Paths: 1000, Levels: "0.05,0.5,0.95", Seed: 1,
		Window: 8, Lags: "24h,168h", Calendar: "off", Hidden: 64, Layers: 3, Epochs: 60,
		WeightDecay: 0.01, TrainFrac: 0.5, Level: 0.9, Spread: true, Online: true,
		Recent: 40}
	backtest := len(args) > 0 && args[0] == "backtest"
	if backtest {
		args = args[1:]
	}
	rest, err := config.Load(forecastUsage, &cfg, args, getenv, stdout)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("forecast: unknown argument %q (want backtest first or nothing)",
			rest[0])
	}
	switch {
	case cfg.CSV == "":
		return errors.New("forecast: --csv is required")
	// The library reads 0 as its default; on the command line the
	// defaults are shown by --help, and 0 is a mistake to say so, before
	// a model is fitted.
	case cfg.Horizon < 1 || cfg.Horizon > forecast.MaxHorizon:
		return fmt.Errorf("forecast: --horizon %d: want 1 to %d steps", cfg.Horizon,
			forecast.MaxHorizon)
	case cfg.Paths < 1 || cfg.Paths > forecast.MaxPaths:
		return fmt.Errorf("forecast: --paths %d: want 1 to %d", cfg.Paths, forecast.MaxPaths)
	}
	samples, err := readCSV(cfg.CSV)
	if err != nil {
		return err
	}
	if backtest {
		return forecastBacktest(ctx, &cfg, samples, stdout, stderr)
	}
	// Checked before a model is fitted, which takes a while.
	levels, err := parseLevels(cfg.Levels)
	if err != nil {
		return err
	}
	m, err := forecastModel(ctx, &cfg, samples, len(samples), stderr)
	if err != nil {
		return err
	}
	hist, err := forecast.Grid(samples, m.Meta().Features)
	if err != nil {
		return err
	}
	fc, err := forecast.Sample(m, hist, forecast.Options{Horizon: cfg.Horizon,
		Paths: cfg.Paths, Levels: levels, KeepPaths: cfg.KeepPaths, Seed: uint64(cfg.Seed)})
	if errors.Is(err, forecast.ErrStepMismatch) {
		return fmt.Errorf("%w (without --model and --group, forecast fits a model on the "+
			"CSV at its own step)", err)
	}
	if err != nil {
		return err
	}
	// The warnings are in the JSON too; stderr is where a person looks.
	for _, w := range fc.Warnings {
		fmt.Fprintf(stderr, "forecast: warning: %s\n", w)
	}
	if cfg.Chart != "" {
		if err := writeChart(cfg.Chart, fc, hist); err != nil {
			return err
		}
	}
	return writeJSON(stdout, fc)
}

// writeJSON writes v as indented JSON, whole or not at all. The library
// returns finite numbers only; should one slip through, the command says
// so instead of printing half a document and json's bare
// "unsupported value: NaN".
func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("forecast: the result cannot be written as JSON, which has no "+
			"NaN or infinity: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// forecastBacktest fits (or loads) a model and backtests it on the part of
// the CSV after the training share.
func forecastBacktest(ctx context.Context, cfg *forecastSettings, samples []timeseries.Sample,
	stdout, stderr io.Writer) error {
	if !(cfg.TrainFrac > 0 && cfg.TrainFrac < 1) {
		return errors.New("forecast: --train_frac must be in (0, 1)")
	}
	split := int(cfg.TrainFrac * float64(len(samples)))
	m, err := forecastModel(ctx, cfg, samples, split, stderr)
	if err != nil {
		return err
	}
	feat := m.Meta().Features
	hist, err := forecast.Grid(samples, feat)
	if err != nil {
		return err
	}
	season := cfg.Season
	if season == 0 {
		season = int(24 * time.Hour / feat.Step)
	}
	// The first origin is the last step the model trained on.
	first := 0
	for first < hist.Len()-1 && hist.Times[first+1].Before(samples[split].Time) {
		first++
	}
	opt := forecast.BacktestOptions{Horizon: cfg.Horizon, Paths: cfg.Paths, First: first,
		Stride: cfg.Stride, Season: season, Level: cfg.Level, Seed: uint64(cfg.Seed)}
	if cfg.Spread && cfg.Model == "" && cfg.Group == "" {
		// The fitted model trained on the first 65% of its share; the rest
		// (validation and calibration windows) is held out.
		opt.CalibFrom = int(float64(first) * (1 - heldOutFrac))
		opt.Online, opt.Recent = cfg.Online, cfg.Recent
	}
	rep, err := forecast.Backtest(ctx, m, hist, opt)
	if err != nil {
		return err
	}
	if rep.Unscorable > 0 {
		fmt.Fprintf(stderr, "forecast: warning: %d origin(s) left out, unscorable; the "+
			"first: %s\n", rep.Unscorable, rep.FirstUnscorable)
	}
	fmt.Fprintf(stderr, "%d origins: CRPS flow %.4g, seasonal naive %.4g (point %.4g); "+
		"%.0f%% coverage flow %.3f, naive %.3f; MAE of median flow %.4g, naive %.4g\n",
		rep.Origins, rep.Flow.CRPS, rep.Naive.CRPS, rep.NaivePointCRPS, 100*rep.Level,
		rep.Flow.Coverage, rep.Naive.Coverage, rep.Flow.MAE, rep.Naive.MAE)
	if w := rep.Widened; w != nil {
		fmt.Fprintf(stderr, "widened by a spread fitted on %d held-out origins: CRPS %.4g, "+
			"coverage %.3f, MAE %.4g\n", rep.CalibOrigins, w.CRPS, w.Coverage, w.MAE)
	}
	return writeJSON(stdout, rep)
}

// forecastModel returns the model named by the settings: a model file, a
// group's champion, or one fitted on the first n samples.
func forecastModel(ctx context.Context, cfg *forecastSettings, samples []timeseries.Sample,
	n int, stderr io.Writer) (*scorer.Model, error) {
	switch {
	case cfg.Model != "":
		b, err := os.ReadFile(cfg.Model)
		if err != nil {
			return nil, fmt.Errorf("forecast: %w", err)
		}
		return scorer.Decode(b)
	case cfg.Group != "":
		s, err := store.Connect(ctx, cfg.Database.URL)
		if err != nil {
			return nil, err
		}
		defer s.Close()
		rec, err := s.Champion(ctx, cfg.Group)
		if err != nil {
			return nil, err
		}
		return scorer.Decode(rec.Artifact)
	}
	var lags []time.Duration
	for _, f := range strings.Split(cfg.Lags, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		d, err := time.ParseDuration(f)
		if err != nil {
			return nil, fmt.Errorf("forecast: --lags: %w", err)
		}
		lags = append(lags, d)
	}
	cal, ok := map[string]scorer.Toggle{"auto": scorer.Auto, "on": scorer.On,
		"off": scorer.Off}[cfg.Calendar]
	if !ok {
		return nil, fmt.Errorf("forecast: --calendar %q: want auto, on or off", cfg.Calendar)
	}
	start := time.Now()
	m, err := scorer.Fit(ctx, [][]timeseries.Sample{samples[:n]}, scorer.Options{
		Group: "forecast", Window: cfg.Window, Lags: lags, Calendar: cal, Seed: uint64(cfg.Seed),
		ValidFrac: heldOutFrac / 2, CalibFrac: heldOutFrac / 2,
		Spec: flowmodel.Spec{Hidden: cfg.Hidden, Layers: cfg.Layers,
			LayerType: cfg.LayerType},
		Train: flowmodel.TrainOptions{Epochs: cfg.Epochs, WeightDecay: cfg.WeightDecay}})
	if err != nil {
		return nil, err
	}
	r := m.Meta().Report
	fmt.Fprintf(stderr, "fitted on %d samples in %s: %d epochs, validation NLL %.4g\n",
		n, time.Since(start).Round(time.Millisecond), r.Epochs, r.ValidNLL)
	return m, nil
}

// readCSV reads a whole CSV file of one series.
func readCSV(path string) ([]timeseries.Sample, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("forecast: %w", err)
	}
	dec, err := timeseries.NewCSVDecoder(timeseries.CSVConfig{
		Series: timeseries.NewSeriesID("csv", nil)})
	if err != nil {
		return nil, err
	}
	s, err := dec.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("forecast: %s: %w", path, err)
	}
	return s, nil
}

// parseLevels reads --levels. Levels out of order are accepted and
// reported in ascending order (forecast.Options.Levels sorts them); a
// level outside (0, 1) or given twice is refused.
func parseLevels(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			return nil, fmt.Errorf("forecast: --levels: %w", err)
		}
		if !(v > 0 && v < 1) {
			return nil, fmt.Errorf("forecast: --levels: %v not in (0, 1)", v)
		}
		if slices.Contains(out, v) {
			return nil, fmt.Errorf("forecast: --levels: %v given twice", v)
		}
		out = append(out, v)
	}
	return out, nil
}

// writeChart writes the fan chart of fc to path, as SVG, PNG or PDF by the
// file's extension.
func writeChart(path string, fc *forecast.Forecast, hist forecast.History) (err error) {
	format := strings.TrimPrefix(strings.ToLower(filepath.Ext(path)), ".")
	if format != "svg" && format != "png" && format != "pdf" {
		return fmt.Errorf("forecast: --chart %s: want a .svg, .png or .pdf file", path)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("forecast: %w", err)
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	return forecast.Plot(f, fc, hist, forecast.PlotOptions{Format: format})
}
