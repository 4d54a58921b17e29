package evaluate

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
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
	// SaveThresholds, when set, is where the caller will save the tuned
	// thresholds; Run checks that it is no file it reads or writes.
	SaveThresholds string
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
	// Alarms, with Report, scores the detector's alarms alone (the first
	// point of each incident) with no threshold tuned: what the service
	// would have raised, and a check that Report's margin does not come
	// from a threshold fitted to these labels.
	Alarms *nab.Report
	// Unlabelled lists the data files the labels do not name; they are
	// replayed and written but not scored.
	Unlabelled []string
}

// Run replays every CSV file under o.Data (files in parallel, rows in
// order), writes the results and, with labels, scores them; when scoring
// fails, the Outcome still holds the replays. What can be checked before
// the replay is checked first, so that a mistake in a path or a file
// costs no replay: the folders, the labels and thresholds files, and
// every data file's rows.
func Run(ctx context.Context, o Options) (Outcome, error) {
	if err := checkFolders(o.Data, o.Out); err != nil {
		return Outcome{}, err
	}
	names, err := dataFiles(o.Data)
	if err != nil {
		return Outcome{}, err
	}
	if err := checkLinks(o, names); err != nil {
		return Outcome{}, err
	}
	var labels nab.Labels
	var thresholds nab.Thresholds
	if o.Labels != "" {
		if labels, err = nab.LoadLabels(o.Labels); err != nil {
			return Outcome{}, err
		}
	}
	switch {
	case o.Thresholds != "" && o.Labels == "":
		return Outcome{}, errors.New("evaluate: saved thresholds need labels to score with")
	case o.Thresholds != "":
		if thresholds, err = nab.LoadThresholds(o.Thresholds); err != nil {
			return Outcome{}, err
		}
		for _, p := range nab.Profiles() {
			if _, ok := thresholds[p.Name]; !ok {
				return Outcome{}, fmt.Errorf("evaluate: thresholds %s lack profile %s",
					o.Thresholds, p.Name)
			}
		}
	}
	out := Outcome{Files: make([]FileOutcome, len(names))}
	var bad []error
	for i, n := range names {
		rows, err := readRows(filepath.Join(o.Data, filepath.FromSlash(n)))
		if err != nil {
			bad = append(bad, fmt.Errorf("evaluate: %s: %w", n, brief(err, 5)))
		}
		out.Files[i] = FileOutcome{Name: n, Rows: rows}
		if _, ok := labels[n]; labels != nil && !ok {
			out.Unlabelled = append(out.Unlabelled, n)
		}
	}
	if len(bad) > 0 {
		return Outcome{}, errors.Join(bad...)
	}
	if labels != nil {
		if _, err := corpus(out.Files, labels, nil); err != nil {
			return Outcome{}, err
		}
	}
	if o.Out != "" {
		if err := os.MkdirAll(o.Out, 0o755); err != nil {
			return Outcome{}, fmt.Errorf("evaluate: output folder: %w", err)
		}
	}
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
			errs[i] = replayFile(ctx, o, &out.Files[i])
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		// Every file would say the same.
		return Outcome{}, fmt.Errorf("evaluate: %w", err)
	}
	if err := errors.Join(errs...); err != nil {
		return Outcome{}, err
	}
	if labels == nil {
		return out, nil
	}
	rep, alarms, err := score(out.Files, labels, thresholds)
	if err != nil {
		// The results are written: the caller may still report them.
		return out, err
	}
	out.Report, out.Alarms = &rep, &alarms
	return out, nil
}

// dataFiles lists the CSV files one level below dir, as "category/file.csv".
// Category folders and files may be symbolic links, so that a subset of a
// data set can be assembled without copying it.
func dataFiles(dir string) ([]string, error) {
	cats, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("evaluate: list data: %w", err)
	}
	var names []string
	flat := 0
	for _, c := range cats {
		// Editors and file managers leave hidden files beside the data.
		if strings.HasPrefix(c.Name(), ".") {
			continue
		}
		path := filepath.Join(dir, c.Name())
		fi, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("evaluate: list data: %w", err)
		}
		if !fi.IsDir() {
			if strings.HasSuffix(c.Name(), ".csv") {
				flat++
			}
			continue
		}
		files, err := os.ReadDir(path)
		if err != nil {
			return nil, fmt.Errorf("evaluate: list data: %w", err)
		}
		for _, f := range files {
			if strings.HasPrefix(f.Name(), ".") || !strings.HasSuffix(f.Name(), ".csv") {
				continue
			}
			fi, err := os.Stat(filepath.Join(path, f.Name()))
			switch {
			case err != nil:
				return nil, fmt.Errorf("evaluate: list data: %w", err)
			case fi.IsDir():
				continue
			case !fi.Mode().IsRegular():
				// A pipe or a device would be read forever.
				return nil, fmt.Errorf("evaluate: data %s/%s is a %v, not a file",
					c.Name(), f.Name(), fi.Mode().Type())
			}
			names = append(names, c.Name()+"/"+f.Name())
		}
	}
	switch {
	case len(names) == 0 && flat > 0:
		return nil, fmt.Errorf("evaluate: the %d csv files of %s are not in category "+
			"folders: NAB's layout is <category>/<file>.csv", flat, dir)
	case len(names) == 0:
		return nil, fmt.Errorf("evaluate: no <category>/<file>.csv files under %s", dir)
	}
	slices.Sort(names)
	return names, nil
}

// checkFolders checks that data is a folder and that out, which receives
// <category>/<file>.csv, neither is nor holds nor lies in it: the results
// would overwrite the input, or be read as input next time.
func checkFolders(data, out string) error {
	fi, err := os.Stat(data)
	if err != nil {
		return fmt.Errorf("evaluate: data: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("evaluate: data %s is not a folder", data)
	}
	if out == "" {
		return nil
	}
	d, err := filepath.Abs(data)
	if err != nil {
		return err
	}
	o, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	d, o = evalLinks(d), evalLinks(o)
	if within(o, d) || within(d, o) {
		return fmt.Errorf("evaluate: out %s and data %s overlap: the results would overwrite "+
			"or join the input; choose another out folder", out, data)
	}
	return nil
}

// checkLinks checks, through symbolic links on either side, that nothing
// Run writes lands on what it reads: no result file on a data file or in
// a data file's folder, and neither a result file nor the saved
// thresholds on a data, labels or thresholds file.
func checkLinks(o Options, names []string) error {
	type place struct {
		what, path string
		fi         os.FileInfo // nil when nothing is there yet
	}
	resolve := func(p string) (string, error) {
		a, err := filepath.Abs(p)
		return evalLinks(a), err
	}
	// A hard link is another path to the same file.
	same := func(a, b place) bool {
		return a.path == b.path || (a.fi != nil && b.fi != nil && os.SameFile(a.fi, b.fi))
	}
	at := func(what, path string) place {
		fi, _ := os.Stat(path)
		return place{what, path, fi}
	}
	var inputs, written []place
	for _, k := range []place{{what: "the labels", path: o.Labels},
		{what: "the thresholds", path: o.Thresholds}} {
		if k.path != "" {
			r, err := resolve(k.path)
			if err != nil {
				return err
			}
			inputs = append(inputs, at(k.what, r))
		}
	}
	for _, n := range names {
		// Absolute, as the result paths are: a relative --data must
		// not make the two look apart.
		real, err := filepath.Abs(filepath.Join(o.Data, filepath.FromSlash(n)))
		if err == nil {
			real, err = filepath.EvalSymlinks(real)
		}
		if err != nil {
			return fmt.Errorf("evaluate: data: %w", err)
		}
		inputs = append(inputs, at("data file "+n, real))
		if o.Out == "" {
			continue
		}
		res, err := resolve(filepath.Join(o.Out, filepath.FromSlash(n)))
		if err != nil {
			return err
		}
		if filepath.Dir(res) == filepath.Dir(real) { // onto it, or beside it
			return fmt.Errorf("evaluate: the result of data file %s would be written "+
				"as %s, beside or onto the data file %s (through a link in out %s "+
				"or data %s); choose another out folder", n, res, real, o.Out, o.Data)
		}
		written = append(written, at("the result of "+n, res))
	}
	if o.SaveThresholds != "" {
		r, err := resolve(o.SaveThresholds)
		if err != nil {
			return err
		}
		written = append(written, at("the saved thresholds", r))
	}
	all := append(inputs[:len(inputs):len(inputs)], written...)
	for _, w := range written {
		for _, p := range all {
			if w.what != p.what && same(w, p) {
				return fmt.Errorf("evaluate: %s would be written over %s (%s)", w.what,
					p.what, p.path)
			}
		}
	}
	return nil
}

// within reports whether path a is b or lies below it.
func within(a, b string) bool {
	rel, err := filepath.Rel(b, a)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// evalLinks resolves the symbolic links of the existing part of path.
func evalLinks(path string) string {
	rest := ""
	for p := path; ; p = filepath.Dir(p) {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Join(r, rest)
		}
		if filepath.Dir(p) == p {
			return path
		}
		rest = filepath.Join(filepath.Base(p), rest)
	}
}

// brief keeps the first n errors of a joined error and counts the rest:
// a file of bad rows would otherwise print one line per row.
func brief(err error, n int) error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok || len(j.Unwrap()) <= n {
		return err
	}
	all := j.Unwrap()
	return fmt.Errorf("%w\n... and %d more", errors.Join(all[:n]...), len(all)-n)
}

// replayFile replays f's rows and writes its result.
func replayFile(ctx context.Context, o Options, f *FileOutcome) error {
	pts, st, err := Replay(ctx, f.Rows, o.Settings)
	if err != nil {
		return fmt.Errorf("evaluate: %s: %w", f.Name, err)
	}
	f.Points, f.Stats = pts, st
	if o.Out != "" {
		if err := writeResult(filepath.Join(o.Out, filepath.FromSlash(f.Name)), *f); err != nil {
			return fmt.Errorf("evaluate: %s: %w", f.Name, err)
		}
	}
	return nil
}

// readRows decodes a NAB data file with the service's CSV decoder.
func readRows(path string) ([]Row, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	// Spreadsheets save CSV with a byte-order mark.
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
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
			return nil, errors.New("want one value column (timestamp,value)")
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

// labelled returns the files the labels name, as NAB files whose scores
// are value(point).
func labelled(files []FileOutcome, labels nab.Labels, value func(Point) float64) []nab.File {
	var nf []nab.File
	for _, f := range files {
		win, ok := labels[f.Name]
		if !ok {
			continue
		}
		ts := make([]time.Time, len(f.Rows))
		sc := make([]float64, len(f.Rows))
		for i, r := range f.Rows {
			ts[i] = r.Time
			if f.Points != nil {
				sc[i] = value(f.Points[i])
			}
		}
		nf = append(nf, nab.File{Name: f.Name, Timestamps: ts, Scores: sc, Windows: win})
	}
	return nf
}

// corpus builds the corpus of the labelled files, checking that there is
// something to score: called before the replay with no points, it finds
// what is wrong between the labels and the data while that costs nothing.
func corpus(files []FileOutcome, labels nab.Labels, value func(Point) float64) (*nab.Corpus,
	error) {
	nf := labelled(files, labels, value)
	if len(nf) == 0 {
		return nil, fmt.Errorf("evaluate: no data file is in the labels (they name, for "+
			"example, %q; the data holds %q)", firstName(labels), files[0].Name)
	}
	c, err := nab.NewCorpus(nf)
	if err != nil {
		return nil, err
	}
	if c.Windows() == 0 {
		// NAB normalises by the perfect detector's score, which is the
		// null detector's when there is nothing to find.
		return nil, errors.New("evaluate: the labels hold no anomaly window in " +
			"these files: the NAB score needs at least one")
	}
	return c, nil
}

func firstName(labels nab.Labels) string {
	if n := labels.Names(); len(n) > 0 {
		return n[0]
	}
	return ""
}

// score scores the outcomes against labels, tuning the thresholds or,
// when not nil, applying saved ones; and it scores the alarms alone.
func score(files []FileOutcome, labels nab.Labels, t nab.Thresholds) (rep, alarms nab.Report,
	err error) {
	c, err := corpus(files, labels, func(p Point) float64 { return p.Score })
	if err != nil {
		return rep, alarms, err
	}
	ca, err := corpus(files, labels, func(p Point) float64 {
		if p.Alarm {
			return 1
		}
		return 0
	})
	if err != nil {
		return rep, alarms, err
	}
	for _, p := range nab.Profiles() {
		alarms.Results = append(alarms.Results, ca.ScoreAt(p, 1))
	}
	if t == nil {
		return c.TuneAll(), alarms, nil
	}
	rep, err = c.ScoreWith(t)
	return rep, alarms, err
}
