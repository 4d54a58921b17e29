package nab

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/flowguard/flowguard/timeseries"
)

// File is one scored series: the detector's output for one data file,
// with the file's labelled windows.
type File struct {
	// Name is the data file's name in the labels, "category/file.csv".
	Name string
	// Timestamps holds one timestamp per row, in file order.
	Timestamps []time.Time
	// Scores holds the anomaly score of each row, in [0, 1].
	Scores []float64
	// Windows are the labelled windows in time order.
	Windows []Window
}

// Series is the content of one results CSV.
type Series struct {
	Timestamps []time.Time
	Scores     []float64
}

// ReadSeries reads a results CSV with a header row that names at least
// the columns timestamp and anomaly_score; other columns are ignored.
// Scores must be finite and in [0, 1].
func ReadSeries(r io.Reader) (Series, error) {
	s, err := readSeries(r)
	if err != nil {
		return Series{}, fmt.Errorf("nab: %w", err)
	}
	return s, nil
}

func readSeries(r io.Reader) (Series, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true

	header, err := cr.Read()
	if err != nil {
		return Series{}, fmt.Errorf("read header: %w", err)
	}
	tsCol, scoreCol := -1, -1
	for i, name := range header {
		switch strings.TrimSpace(name) {
		case "timestamp":
			tsCol = i
		case "anomaly_score":
			scoreCol = i
		}
	}
	if tsCol < 0 || scoreCol < 0 {
		return Series{}, fmt.Errorf("header %q lacks timestamp or anomaly_score", header)
	}

	var s Series
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return s, nil
		}
		if err != nil {
			return Series{}, fmt.Errorf("read row: %w", err)
		}
		ts, err := parseTime(rec[tsCol])
		if err != nil {
			return Series{}, fmt.Errorf("line %d: %w", line, err)
		}
		// Numbers as the detector's CSV decoder reads them: a score of
		// 0x1p-1 or 0_5 is a broken writer, not 0.5 or 5.
		score, err := timeseries.ParseNumber(strings.TrimSpace(rec[scoreCol]))
		if err != nil {
			return Series{}, fmt.Errorf("line %d: anomaly_score: %w", line, err)
		}
		if math.IsNaN(score) || score < 0 || score > 1 {
			return Series{}, fmt.Errorf("line %d: anomaly_score %v outside [0, 1]", line, score)
		}
		s.Timestamps = append(s.Timestamps, ts)
		s.Scores = append(s.Scores, score)
	}
}

// LoadResults reads a detector's results folder for every file named in
// labels, in the order of labels.Names. The results of "cat/x.csv" are
// read from dir/cat/x.csv or, failing that, from dir/cat/<det>_x.csv with
// <det> the base name of dir (NAB's own layout). A missing file is an
// error.
func LoadResults(dir string, labels Labels) ([]File, error) {
	names := labels.Names()
	files := make([]File, 0, len(names))
	for _, name := range names {
		s, err := loadSeries(dir, name)
		if err != nil {
			return nil, err
		}
		files = append(files, File{
			Name:       name,
			Timestamps: s.Timestamps,
			Scores:     s.Scores,
			Windows:    labels[name],
		})
	}
	return files, nil
}

func loadSeries(dir, name string) (Series, error) {
	category, base := filepath.Split(filepath.FromSlash(name))
	paths := []string{
		filepath.Join(dir, category, base),
		filepath.Join(dir, category, filepath.Base(dir)+"_"+base),
	}
	for _, path := range paths {
		f, err := os.Open(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return Series{}, fmt.Errorf("nab: open results: %w", err)
		}
		s, err := readSeries(f)
		f.Close()
		if err != nil {
			return Series{}, fmt.Errorf("nab: results %s: %w", path, err)
		}
		return s, nil
	}
	return Series{}, fmt.Errorf("nab: no results for %s: tried %s",
		name, strings.Join(paths, ", "))
}

// Load reads the labels at labelsPath and the matching results under
// resultsDir, and prepares them for scoring.
func Load(resultsDir, labelsPath string) (*Corpus, error) {
	labels, err := LoadLabels(labelsPath)
	if err != nil {
		return nil, err
	}
	files, err := LoadResults(resultsDir, labels)
	if err != nil {
		return nil, err
	}
	return NewCorpus(files)
}
