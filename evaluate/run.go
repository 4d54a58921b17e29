package evaluate

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
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
	// NotInData lists the files the labels name that are not in the data;
	// their windows are not scored.
	NotInData []string
	// Stale lists the <category>/<file>.csv files that were in Out before
	// the run and that it did not write: results of another run, which a
	// reader of Out could take for this one's. Run leaves them there.
	Stale []string
}

// Run replays every CSV file under o.Data (files in parallel, rows in
// order), writes the results and, with labels, scores them; when scoring
// fails, the Outcome still holds the replays. What can be checked before
// the replay is checked first, so that a mistake in a path or a file
// costs no replay: the folders, the labels and thresholds files, where the
// thresholds will be saved, and every data file's rows. A file whose first
// model cannot be fitted is written unscored (ReplayStats.NoModel) and the
// others go on. The results are written once every file is replayed, all
// or none: a run that fails before scoring leaves nothing in o.Out.
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
	stale, err := checkOut(o.Out, names)
	if err != nil {
		return Outcome{}, err
	}
	if err := checkSave(o.SaveThresholds, o.Out, names); err != nil {
		return Outcome{}, err
	}
	var labels nab.Labels
	var thresholds nab.Thresholds
	if o.Labels != "" {
		if labels, err = nab.LoadLabels(o.Labels); err != nil {
			return Outcome{}, err
		}
		if len(labels) == 0 {
			return Outcome{}, fmt.Errorf("evaluate: the labels %s name no file: NAB's "+
				"labels map \"<category>/<file>.csv\" to its windows", o.Labels)
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
	out := Outcome{Files: make([]FileOutcome, len(names)), Stale: stale}
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
	for _, n := range labels.Names() {
		if _, ok := slices.BinarySearch(names, n); !ok {
			out.NotInData = append(out.NotInData, n)
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
			f := &out.Files[i]
			f.Points, f.Stats, errs[i] = Replay(ctx, f.Rows, o.Settings)
			if errs[i] != nil {
				errs[i] = fmt.Errorf("evaluate: %s: %w", f.Name, errs[i])
			}
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
	if o.Out != "" {
		if err := writeResults(o.Out, out.Files); err != nil {
			return Outcome{}, err
		}
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

// checkOut checks that Run can write its results into out: out and its
// category folders are folders where they exist, no result's place is a
// folder, and out, or the nearest folder above it when Run is to make it,
// takes new files. It returns the <category>/<file>.csv files already in
// out that the run will not write.
func checkOut(out string, names []string) ([]string, error) {
	if out == "" {
		return nil, nil
	}
	fi, err := os.Stat(out)
	switch {
	case err == nil && !fi.IsDir():
		return nil, fmt.Errorf("evaluate: out %s is not a folder", out)
	case errors.Is(err, fs.ErrNotExist):
		// Run makes out and its missing parents.
		dir := filepath.Dir(out)
		for {
			if _, err := os.Stat(dir); err == nil || filepath.Dir(dir) == dir {
				break
			}
			dir = filepath.Dir(dir)
		}
		if err := canCreateIn(dir); err != nil {
			return nil, fmt.Errorf("evaluate: out %s cannot be made: %w", out, err)
		}
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("evaluate: out: %w", err)
	}
	writes := make(map[string]bool, len(names))
	checked := map[string]bool{out: true}
	if err := canCreateIn(out); err != nil {
		return nil, fmt.Errorf("evaluate: out: %w", err)
	}
	for _, n := range names {
		writes[n] = true
		res := filepath.Join(out, filepath.FromSlash(n))
		cat := filepath.Dir(res)
		if fi, err := os.Stat(cat); err == nil && !checked[cat] {
			checked[cat] = true
			if !fi.IsDir() {
				return nil, fmt.Errorf("evaluate: out holds a file %s where the results of "+
					"category %s go", cat, path.Dir(n))
			}
			if err := canCreateIn(cat); err != nil {
				return nil, fmt.Errorf("evaluate: out: %w", err)
			}
		}
		if fi, err := os.Stat(res); err == nil && !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("evaluate: the result of %s would be written over %s, "+
				"which is a %v, not a file", n, res, kindOf(fi))
		}
	}
	var stale []string
	cats, err := os.ReadDir(out)
	if err != nil {
		return nil, fmt.Errorf("evaluate: out: %w", err)
	}
	for _, c := range cats {
		if strings.HasPrefix(c.Name(), ".") {
			continue
		}
		files, err := os.ReadDir(filepath.Join(out, c.Name()))
		if err != nil {
			continue // not a folder: no result a reader would take
		}
		for _, f := range files {
			n := c.Name() + "/" + f.Name()
			if !strings.HasPrefix(f.Name(), ".") && strings.HasSuffix(f.Name(), ".csv") &&
				!writes[n] {
				stale = append(stale, n)
			}
		}
	}
	return stale, nil
}

// checkSave checks, before any replay, that the tuned thresholds can be
// saved at path once the run is done: it is no folder, neither out nor a
// folder Run writes results into, nor in one, and its folder exists (or is
// out, which Run makes) and takes new files.
func checkSave(save, out string, names []string) error {
	if save == "" {
		return nil
	}
	abs, err := filepath.Abs(save)
	if err != nil {
		return err
	}
	r := evalLinks(abs)
	if fi, err := os.Stat(r); err == nil && fi.IsDir() {
		return fmt.Errorf("evaluate: saved thresholds %s is a folder: name a file", save)
	}
	o := ""
	if out != "" {
		if o, err = filepath.Abs(out); err != nil {
			return err
		}
		o = evalLinks(o)
		if within(o, r) {
			return fmt.Errorf("evaluate: saved thresholds %s would be the out folder %s or "+
				"above it: name a file", save, out)
		}
		for _, n := range names {
			cat := filepath.Join(o, filepath.FromSlash(path.Dir(n)))
			if within(r, cat) {
				where := "in " + filepath.Join(out, path.Dir(n)) + ","
				if r == cat {
					where = "the folder"
				}
				return fmt.Errorf("evaluate: saved thresholds %s would be %s where the "+
					"results of category %s go: save them elsewhere (out itself will do)",
					save, where, path.Dir(n))
			}
		}
	}
	dir := filepath.Dir(r)
	fi, err := os.Stat(dir)
	switch {
	case err == nil && !fi.IsDir():
		return fmt.Errorf("evaluate: saved thresholds %s: %s is not a folder", save,
			filepath.Dir(save))
	case err == nil:
		if err := canCreateIn(dir); err != nil {
			return fmt.Errorf("evaluate: saved thresholds %s: %w", save, err)
		}
	case dir == o:
		// Run makes out; checkOut found that it can.
	default:
		return fmt.Errorf("evaluate: saved thresholds %s: its folder %s does not exist", save,
			filepath.Dir(save))
	}
	return nil
}

// canCreateIn reports whether a new file can be made in folder dir, by
// making one and removing it: permissions, a read-only mount and an
// account's quota all show.
func canCreateIn(dir string) error {
	f, err := os.CreateTemp(dir, ".evaluate-check-*")
	if err != nil {
		return fmt.Errorf("cannot make files in %s: %w", dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

func kindOf(fi os.FileInfo) string {
	if fi.IsDir() {
		return "folder"
	}
	return fi.Mode().Type().String()
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

// readRows decodes a NAB data file with the service's CSV decoder, and
// keeps each row's timestamp as written for the result.
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
	// The decoder read these records without an error, so the same
	// reader settings give the same records, one per sample.
	cr := csv.NewReader(bytes.NewReader(b))
	cr.ReuseRecord = true
	stamps := make([]string, 0, len(smp))
	for row := 0; ; row++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if row == 0 && rec[0] == "timestamp" {
			continue
		}
		stamps = append(stamps, rec[0])
	}
	if len(stamps) != len(smp) {
		return nil, fmt.Errorf("%d timestamps for %d rows", len(stamps), len(smp))
	}
	rows := make([]Row, len(smp))
	for i, s := range smp {
		if len(s.Values) != 1 {
			return nil, errors.New("want one value column (timestamp,value)")
		}
		rows[i] = Row{Time: s.Time, Value: s.Values[0], Stamp: stamps[i]}
	}
	return rows, nil
}

// writeResults writes every file's result under out, all or none: each
// goes to a hidden file beside its place, and only once all are written
// are they renamed into place. On an error the hidden files, and the
// folders made for them, are removed.
func writeResults(out string, files []FileOutcome) (err error) {
	var made, temps []string
	defer func() {
		if err == nil {
			return
		}
		for _, t := range temps {
			os.Remove(t)
		}
		for i := len(made) - 1; i >= 0; i-- {
			os.Remove(made[i])
		}
	}()
	dst := make([]string, len(files))
	for i, f := range files {
		dst[i] = filepath.Join(out, filepath.FromSlash(f.Name))
		if err := mkdirs(filepath.Dir(dst[i]), &made); err != nil {
			return fmt.Errorf("evaluate: write %s: %w", f.Name, err)
		}
		tmp := filepath.Join(filepath.Dir(dst[i]), "."+filepath.Base(dst[i])+".partial")
		temps = append(temps, tmp)
		if err := writeResult(tmp, f); err != nil {
			return fmt.Errorf("evaluate: write %s: %w", f.Name, err)
		}
	}
	for i, t := range temps {
		if err := os.Rename(t, dst[i]); err != nil {
			return fmt.Errorf("evaluate: write %s: %w", files[i].Name, err)
		}
	}
	return nil
}

// mkdirs makes dir and its missing parents, appending each folder it
// makes to made, parents first.
func mkdirs(dir string, made *[]string) error {
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a folder", dir)
		}
		return nil
	}
	if p := filepath.Dir(dir); p != dir {
		if err := mkdirs(p, made); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	*made = append(*made, dir)
	return nil
}

func writeResult(path string, f FileOutcome) (err error) {
	fh, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, fh.Close()) }()
	w := bufio.NewWriter(fh)
	w.WriteString("timestamp,value,anomaly_score\n")
	var b []byte
	for i, r := range f.Rows {
		if r.Stamp != "" {
			b = append(b[:0], r.Stamp...)
		} else {
			b = r.Time.AppendFormat(b[:0], timeseries.NABTimeLayout)
		}
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
