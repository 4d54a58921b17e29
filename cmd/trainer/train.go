package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/flowguard/flowguard/internal/config"
	"github.com/flowguard/flowguard/replay"
	"github.com/flowguard/flowguard/scorer"
	"github.com/flowguard/flowguard/store"
	"github.com/flowguard/flowguard/timeseries"
	"github.com/flowguard/flowguard/training"
)

// runTrain trains one model offline from NAB-format CSV files or a range of
// the samples topic and writes it to a file, the registry, or both.
func runTrain(ctx context.Context, args []string, stdout io.Writer,
	getenv func(string) string) error {
	cfg := config.DefaultTrainer()
	if err := config.LoadNoArgs("trainer train", cfg, args, getenv, stdout); err != nil {
		return err
	}
	if len(cfg.CSV) == 0 && len(cfg.Kafka.Brokers) == 0 {
		return errors.New("train: give --csv files, or --kafka.brokers to replay the " +
			"samples topic")
	}
	if cfg.Out == "" && !cfg.Publish {
		return errors.New("train: give --out FILE, --publish, or both")
	}
	// Training takes a minute: find out first whether its outputs can be
	// written at all.
	if cfg.Out != "" {
		if err := checkWritable(cfg.Out); err != nil {
			return err
		}
		for _, in := range cfg.CSV {
			if sameFile(cfg.Out, in) {
				return fmt.Errorf("train: --out %s is the input %s: the model would "+
					"overwrite it", cfg.Out, in)
			}
		}
	}
	var s *store.Store
	if cfg.Publish {
		var err error
		if s, err = store.Connect(ctx, cfg.Database.URL); err != nil {
			return fmt.Errorf("train: --publish: %w", err)
		}
		defer s.Close()
		// Checked before training, which may take minutes.
		if _, err := s.EnsureSchema(ctx, cfg.Database.Migrate); err != nil {
			return err
		}
	}
	series, err := trainingData(ctx, cfg, stdout)
	if err != nil {
		return err
	}
	opt, err := fitOptions(cfg.Model, cfg.Group)
	if err != nil {
		return err
	}
	m, err := scorer.Fit(ctx, series, opt)
	var mismatch *scorer.StepMismatchError
	if errors.As(err, &mismatch) {
		return fmt.Errorf("train: %s has a %s step, %s %s: one model needs one step; "+
			"train them apart or set --model.step",
			seriesName(cfg, mismatch.Series, mismatch.Key), shortDuration(mismatch.Step),
			seriesName(cfg, mismatch.First, mismatch.FirstKey),
			shortDuration(mismatch.FirstStep))
	}
	if err != nil {
		return err
	}
	meta := m.Meta()
	fmt.Fprintf(stdout, "trained %s: %d series, %d samples %s to %s, window %d, "+
		"%d/%d/%d train/valid/calibration windows\n", meta.Group, meta.Data.Series,
		meta.Data.Samples, meta.Data.From.Format("2006-01-02 15:04"),
		meta.Data.To.Format("2006-01-02 15:04"), meta.Features.Window, meta.Data.Train,
		meta.Data.Valid, meta.Data.Calib)
	if meta.Data.Extreme > 0 {
		fmt.Fprintf(stdout, "%d windows left out of the fit: they hold a value far beyond "+
			"the rest of the data (a glitch such as 1e155 in a series of tens)\n",
			meta.Data.Extreme)
	}
	if err := reportUnwindowed(stdout, cfg, meta.Features, series); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "epochs %d (best %d, %s), valid NLL %.4f, mean calibration score "+
		"%.4f nats, %.1fs\n", meta.Report.Epochs, meta.Report.BestEpoch, meta.Report.Stopped,
		meta.Report.ValidNLL, meta.Report.CalibScore, meta.Report.Seconds)
	if cfg.Out != "" {
		b, err := m.Encode()
		if err != nil {
			return err
		}
		if err := os.WriteFile(cfg.Out, b, 0o644); err != nil {
			return fmt.Errorf("train: %w", err)
		}
		fmt.Fprintf(stdout, "wrote %s (%d bytes)\n", cfg.Out, len(b))
	}
	if s == nil {
		return nil
	}
	source := "trained offline from " + strings.Join(cfg.CSV, ", ")
	if len(cfg.CSV) == 0 {
		source = "trained offline from " + cfg.Kafka.SamplesTopic
	}
	info, promoted, err := training.Publish(ctx, s, m, nil, nil, source)
	if err != nil {
		return err
	}
	state := "candidate (the group has a champion; use trainer promote)"
	if promoted {
		state = "champion"
	}
	fmt.Fprintf(stdout, "published %s version %d as %s\n", info.Group, info.Version, state)
	return nil
}

// maxUnwindowedLines bounds the notes reportUnwindowed prints; a replay of
// the samples topic may hold thousands of series.
const maxUnwindowedLines = 10

// reportUnwindowed prints, for each series with samples in no window of
// the model's grid, how many those are. Fit leaves them out without error,
// which with a step set by hand can be all of a series recorded more
// sparsely than the grid can fill.
func reportUnwindowed(stdout io.Writer, cfg *config.Trainer, feat scorer.Features,
	series [][]timeseries.Sample) error {
	unfit, err := feat.Unwindowed(series)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	printed, more := 0, 0
	for i, n := range unfit {
		if n == 0 {
			continue
		}
		if printed == maxUnwindowedLines {
			more++
			continue
		}
		printed++
		spacing := scorer.MedianSpacing(series[i])
		fmt.Fprintf(stdout, "note: %d of %d samples of %s (%s apart) are in no window of "+
			"the %s grid and were not trained on", n, len(series[i]),
			seriesName(cfg, i, series[i][0].Series.Key()), shortDuration(spacing),
			shortDuration(feat.Step))
		if spacing > time.Duration(feat.MaxFill+1)*feat.Step {
			fmt.Fprintf(stdout, ": gaps of more than %d filled steps restart the window",
				feat.MaxFill)
		}
		fmt.Fprintln(stdout)
	}
	if more > 0 {
		fmt.Fprintf(stdout, "note: and %d more series with samples in no window\n", more)
	}
	return nil
}

// seriesName names series i of the training data for the user: its CSV
// file, or its key when replayed from the samples topic.
func seriesName(cfg *config.Trainer, i int, key string) string {
	if i < len(cfg.CSV) {
		return cfg.CSV[i]
	}
	return key
}

// shortDuration writes d without trailing zero units: 30m, not 30m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if t, ok := strings.CutSuffix(s, "m0s"); ok {
		s = t + "m"
	}
	if t, ok := strings.CutSuffix(s, "h0m"); ok {
		s = t + "h"
	}
	return s
}

// checkWritable reports whether a file can be written next to out, by
// creating and removing a temporary one in its directory.
func checkWritable(out string) error {
	dir := filepath.Dir(out)
	f, err := os.CreateTemp(dir, ".trainer-check-*")
	if err != nil {
		return fmt.Errorf("train: --out %s: directory %s is not writable: %w", out, dir, err)
	}
	name := f.Name()
	f.Close()
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("train: --out %s: %w", out, err)
	}
	return nil
}

// trainingData reads the CSV files or, without them, replays the samples
// topic.
func trainingData(ctx context.Context, cfg *config.Trainer,
	stdout io.Writer) ([][]timeseries.Sample, error) {
	if len(cfg.CSV) > 0 {
		return readCSVs(cfg.CSV)
	}
	req := replay.Request{Brokers: cfg.Kafka.Brokers, Topic: cfg.Kafka.SamplesTopic}
	for _, b := range []struct {
		text string
		t    *time.Time
	}{{cfg.From, &req.From}, {cfg.To, &req.To}} {
		if b.text == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, b.text)
		if err != nil {
			return nil, fmt.Errorf("train: time %q: want RFC 3339", b.text)
		}
		*b.t = t
	}
	if len(cfg.Series) > 0 {
		// Names, not keys: keys with labels hold commas, which the list
		// setting splits on.
		req.Keep = func(key []byte) bool {
			for _, n := range cfg.Series {
				if strings.HasPrefix(string(key), n+"{") {
					return true
				}
			}
			return false
		}
	}
	series, st, err := replay.Read(ctx, req)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(stdout, "replayed %d samples of %d series from %s (%d messages, "+
		"%d malformed)\n", st.Samples, len(series), req.Topic, st.Messages, st.Malformed)
	return series, nil
}

// readCSVs reads each file as one series named after the file.
func readCSVs(paths []string) ([][]timeseries.Sample, error) {
	var out [][]timeseries.Sample
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
		name := strings.TrimSuffix(filepath.Base(p), filepath.Ext(p))
		dec, err := timeseries.NewCSVDecoder(timeseries.CSVConfig{
			Series: timeseries.NewSeriesID(name, nil)})
		if err != nil {
			return nil, fmt.Errorf("train: %s: %w", p, err)
		}
		ss, err := dec.Decode(b)
		if err != nil {
			return nil, fmt.Errorf("train: %s: %w", p, err)
		}
		out = append(out, ss)
	}
	return out, nil
}

// sameFile reports whether a and b name one existing file, through links.
func sameFile(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}
