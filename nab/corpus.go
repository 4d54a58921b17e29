package nab

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// Corpus is a set of scored files prepared for NAB scoring: window rows
// located, per-row weights computed and the rows after the probationary
// periods sorted for the threshold sweep. It is immutable and safe for
// concurrent use.
type Corpus struct {
	files   []prepared
	windows int
	// sorted holds every row after its file's probationary period, by
	// descending score.
	sorted []sweepRow
}

type prepared struct {
	File
	probation int
	spans     []span
	// unit is each row's weight for unit costs: positive inside a window,
	// negative outside.
	unit []float64
	// window is each row's window index in the file, or -1 outside.
	window []int32
}

// span is a window as an inclusive range of row indices.
type span struct{ lo, hi int }

type sweepRow struct {
	score float64
	unit  float64
	// window is the corpus-wide window index, or -1 outside windows.
	window int32
}

// ProbationaryLength returns the number of leading rows of an n-row file
// that NAB never scores: min(floor(0.15 n), 750), computed in floating
// point as NAB does.
func ProbationaryLength(n int) int {
	return int(math.Min(math.Floor(0.15*float64(n)), 0.15*5000))
}

// NewCorpus checks files and prepares them for scoring. Each file needs as
// many scores as timestamps, scores in [0, 1], and windows in time order
// whose ends are row timestamps. Timestamps need not increase: NAB's own
// files repeat an hour at daylight-saving changes. The files' slices are
// kept, not copied: do not change them afterwards.
func NewCorpus(files []File) (*Corpus, error) {
	c := &Corpus{files: make([]prepared, 0, len(files))}
	for _, f := range files {
		p, err := prepare(f)
		if err != nil {
			return nil, fmt.Errorf("nab: %s: %w", f.Name, err)
		}
		for i := p.probation; i < len(f.Scores); i++ {
			w := p.window[i]
			if w >= 0 {
				w += int32(c.windows)
			}
			c.sorted = append(c.sorted, sweepRow{score: f.Scores[i], unit: p.unit[i], window: w})
		}
		c.windows += len(p.spans)
		c.files = append(c.files, p)
	}
	slices.SortStableFunc(c.sorted, func(a, b sweepRow) int {
		return cmp.Compare(b.score, a.score)
	})
	return c, nil
}

// Windows returns the number of labelled windows in the corpus.
func (c *Corpus) Windows() int { return c.windows }

// Files returns the names of the corpus's files in order.
func (c *Corpus) Files() []string {
	names := make([]string, len(c.files))
	for i, f := range c.files {
		names[i] = f.Name
	}
	return names
}

func prepare(f File) (prepared, error) {
	n := len(f.Timestamps)
	if len(f.Scores) != n {
		return prepared{}, fmt.Errorf("%d timestamps but %d scores", n, len(f.Scores))
	}
	for i, s := range f.Scores {
		if math.IsNaN(s) || s < 0 || s > 1 {
			return prepared{}, fmt.Errorf("row %d: score %v outside [0, 1]", i, s)
		}
	}
	spans, err := locate(f)
	if err != nil {
		return prepared{}, err
	}

	p := prepared{
		File:      f,
		probation: ProbationaryLength(n),
		spans:     spans,
		unit:      make([]float64, n),
		window:    make([]int32, n),
	}
	p.weigh()
	return p, nil
}

// locate finds the row range of every window. NAB enters a window at the
// row carrying its first timestamp and takes its width from the first row
// carrying its last timestamp, so both must be rows; with repeated
// timestamps the first occurrence counts, as in NAB.
func locate(f File) ([]span, error) {
	spans := make([]span, len(f.Windows))
	for k, w := range f.Windows {
		lo := slices.IndexFunc(f.Timestamps, w.First.Equal)
		hi := slices.IndexFunc(f.Timestamps, w.Last.Equal)
		if lo < 0 || hi < 0 {
			return nil, fmt.Errorf("window %d [%s, %s]: ends do not match row timestamps",
				k, w.First.Format(TimeLayout), w.Last.Format(TimeLayout))
		}
		if hi < lo {
			return nil, fmt.Errorf("window %d: last row %d before first row %d", k, hi, lo)
		}
		if k > 0 && lo <= spans[k-1].hi {
			return nil, fmt.Errorf("window %d overlaps window %d", k, k-1)
		}
		spans[k] = span{lo: lo, hi: hi}
	}
	return spans, nil
}

// weigh fills unit and window: NAB's weight of every row if it were a
// detection, for A_TP = A_FP = 1.
func (p *prepared) weigh() {
	next := 0            // index of the first window not yet passed
	prev := span{-1, -1} // the last window passed; lo < 0 until there is one
	for i := range p.unit {
		if next < len(p.spans) && i > p.spans[next].hi {
			prev = p.spans[next]
			next++
		}
		switch {
		case next < len(p.spans) && i >= p.spans[next].lo:
			p.window[i] = int32(next)
			p.unit[i] = windowWeight(i, p.spans[next].lo, p.spans[next].hi)
		case prev.lo < 0:
			p.window[i] = -1
			p.unit[i] = beforeWeight
		default:
			p.window[i] = -1
			p.unit[i] = afterWeight(i, prev.lo, prev.hi)
		}
	}
}
