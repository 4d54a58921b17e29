package evaluate

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/flowguard/flowguard/nab"
	"github.com/flowguard/flowguard/timeseries"
)

// Options say what Run evaluates and where it writes.
type Options struct {
	// Data is a folder laid out as NAB's data: <category>/<file>.csv.
	Data string
	// Out receives <category>/<file>.csv with timestamp,value,anomaly_score.
	Out string
	// Labels, when set, is a NAB labels file; Run then scores the output.
	Labels string
	// Thresholds, when set with Labels, is a saved thresholds file applied
	// unchanged instead of tuning thresholds on this data.
	Thresholds string
	// Settings are the detector settings, the same for every file.
	Settings Settings
	// Parallel bounds the files replayed at once; 0 means GOMAXPROCS.
	Parallel int
}

// FileOutcome is the replay of one data file.
type FileOutcome struct {
	// Name is "category/file.csv", relative to Options.Data.
	Name   string
	Rows   []Row
	Points []Point
	Stats  ReplayStats
}

// Outcome is the result of Run.
type Outcome struct {
	Files []FileOutcome
	// Report holds the NAB scores of the three profiles when labels were
	// given, nil otherwise.
	Report *nab.Report
}

// Run replays every CSV file under o.Data (files in parallel, rows in
// order), writes the results and, with labels, scores them.
func Run(ctx context.Context, o Options) (Outcome, error) {
	names, err := dataFiles(o.Data)
	if err != nil {
		return Outcome{}, err
	}
	if len(names) == 0 {
		return Outcome{}, fmt.Errorf("evaluate: no csv files under %s", o.Data)
	}
	out := Outcome{Files: make([]FileOutcome, len(names))}
	par := o.Parallel
	if par <= 0 {
		par = runtime.GOMAXPROCS(0)
	}
	sem := make(chan struct{}, par)
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	// Longest files first keeps the workers busy to the end.
	order := make([]int, len(names))
	sizes := make([]int64, len(names))
	for i, n := range names {
		order[i] = i
		if fi, err := os.Stat(filepath.Join(o.Data, n)); err == nil {
			sizes[i] = fi.Size()
		}
	}
	slices.SortStableFunc(order, func(a, b int) int { return int(sizes[b] - sizes[a]) })
	for _, i := range order {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			out.Files[i], errs[i] = replayFile(ctx, o, names[i])
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return Outcome{}, err
	}
	if o.Labels == "" {
		return out, nil
	}
	rep, err := score(out.Files, o.Labels, o.Thresholds)
	if err != nil {
		return Outcome{}, err
	}
	out.Report = &rep
	return out, nil
}

// dataFiles lists the CSV files one level below dir, as "category/file.csv".
func dataFiles(dir string) ([]string, error) {
	var names []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(d.Name(), ".csv") {
			return nil
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		if strings.Count(filepath.ToSlash(rel), "/") == 1 {
			names = append(names, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("evaluate: list data: %w", err)
	}
	slices.Sort(names)
	return names, nil
}

func replayFile(ctx context.Context, o Options, name string) (FileOutcome, error) {
	rows, err := readRows(filepath.Join(o.Data, filepath.FromSlash(name)))
	if err != nil {
		return FileOutcome{}, fmt.Errorf("evaluate: %s: %w", name, err)
	}
	pts, st, err := Replay(ctx, rows, o.Settings)
	if err != nil {
		return FileOutcome{}, fmt.Errorf("evaluate: %s: %w", name, err)
	}
	f := FileOutcome{Name: name, Rows: rows, Points: pts, Stats: st}
	if o.Out != "" {
		if err := writeResult(filepath.Join(o.Out, filepath.FromSlash(name)), f); err != nil {
			return FileOutcome{}, fmt.Errorf("evaluate: %s: %w", name, err)
		}
	}
	return f, nil
}

// readRows decodes a NAB data file with the service's CSV decoder.
func readRows(path string) ([]Row, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec, err := timeseries.NewCSVDecoder(timeseries.CSVConfig{
		Series: timeseries.SeriesID{Name: "eval"}})
	if err != nil {
		return nil, err
	}
	smp, err := dec.Decode(b)
	if err != nil {
		return nil, err
	}
	rows := make([]Row, len(smp))
	for i, s := range smp {
		if len(s.Values) != 1 {
			return nil, errors.New("evaluate: want one value column")
		}
		rows[i] = Row{Time: s.Time, Value: s.Values[0]}
	}
	return rows, nil
}

func writeResult(path string, f FileOutcome) (err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	fh, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, fh.Close()) }()
	w := bufio.NewWriter(fh)
	w.WriteString("timestamp,value,anomaly_score\n")
	var b []byte
	for i, r := range f.Rows {
		b = r.Time.AppendFormat(b[:0], timeseries.NABTimeLayout)
		b = append(b, ',')
		b = strconv.AppendFloat(b, r.Value, 'g', -1, 64)
		b = append(b, ',')
		b = strconv.AppendFloat(b, f.Points[i].Score, 'g', -1, 64)
		b = append(b, '\n')
		w.Write(b)
	}
	return w.Flush()
}

// score scores the outcomes against labels, tuning the thresholds or
// applying saved ones.
func score(files []FileOutcome, labelsPath, thresholdsPath string) (nab.Report, error) {
	labels, err := nab.LoadLabels(labelsPath)
	if err != nil {
		return nab.Report{}, err
	}
	nf := make([]nab.File, 0, len(files))
	for _, f := range files {
		win, ok := labels[f.Name]
		if !ok {
			continue
		}
		ts := make([]time.Time, len(f.Rows))
		sc := make([]float64, len(f.Rows))
		for i, r := range f.Rows {
			ts[i], sc[i] = r.Time, f.Points[i].Score
		}
		nf = append(nf, nab.File{Name: f.Name, Timestamps: ts, Scores: sc, Windows: win})
	}
	if len(nf) == 0 {
		return nab.Report{}, errors.New("evaluate: no data file is in the labels")
	}
	c, err := nab.NewCorpus(nf)
	if err != nil {
		return nab.Report{}, err
	}
	if thresholdsPath == "" {
		return c.TuneAll(), nil
	}
	t, err := nab.LoadThresholds(thresholdsPath)
	if err != nil {
		return nab.Report{}, err
	}
	return c.ScoreWith(t)
}
