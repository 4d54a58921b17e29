package nab

import (
	"math"
	"time"
)

// NoDetection is the threshold at which nothing fires, NAB's first
// candidate: scores are at most 1.
const NoDetection = 1.1

// Result is a corpus scored under one profile at one threshold.
type Result struct {
	Profile   Profile
	Threshold float64
	// Score is the normalised NAB score, 100 (Raw-Null)/(Perfect-Null):
	// 0 for the null detector, 100 for the perfect one. It is NaN when the
	// corpus has no windows.
	Score float64
	// Raw is the sum of the per-file scores S(Threshold); Null is
	// -A_FN x windows and Perfect is A_TP x windows.
	Raw, Null, Perfect float64

	// Windows counts labelled windows and Hits those with a detection.
	Windows, Hits int
	// FPRows counts detected rows outside windows; FPEvents counts maximal
	// runs of them (see the package comment).
	FPRows, FPEvents int
	// Precision, Recall and F1 are event-level (see the package comment).
	Precision, Recall, F1 float64
	// MeanDelayRows and MeanDelay average, over hit windows, the distance
	// from a window's first row to its first detection; both are 0 when no
	// window is hit.
	MeanDelayRows float64
	MeanDelay     time.Duration

	// Files holds the per-file details in corpus order.
	Files []FileResult
}

// FileResult is the score of one file within a Result.
type FileResult struct {
	Name string
	// Rows is the file's length and Probation its unscored leading rows.
	Rows, Probation int
	// Windows, Hits, FPRows and FPEvents are as in Result, for this file.
	Windows, Hits, FPRows, FPEvents int
	// Raw is the file's NAB score under the Result's profile.
	Raw float64
	// Delays holds one entry per hit window, in window order.
	Delays []Delay
}

// Delay is how late the first detection in a hit window came.
type Delay struct {
	// Window is the window's index in its file.
	Window int
	// Rows is the first detection's row index minus the window's first.
	Rows int
	// Duration is the same distance in time.
	Duration time.Duration
}

// Tune scores the corpus under p at the threshold that maximises the raw
// score S over all candidates: NoDetection and every distinct score after
// the probationary periods. Of equal scores the higher threshold wins.
// The candidates are swept once in descending order, updating S as rows
// start to fire, so the cost is linear after NewCorpus's sort.
func (c *Corpus) Tune(p Profile) Result {
	return c.ScoreAt(p, c.bestThreshold(p))
}

func (c *Corpus) bestThreshold(p Profile) float64 {
	best, bestRaw := NoDetection, -p.FN*float64(c.windows)

	// hit holds each window's best unit weight so far; in-window weights
	// are positive, so 0 means not hit.
	hit := make([]float64, c.windows)
	var tpSum, fpSum float64
	hits := 0
	for i := 0; i < len(c.sorted); {
		theta := c.sorted[i].score
		for ; i < len(c.sorted) && c.sorted[i].score == theta; i++ {
			r := c.sorted[i]
			switch {
			case r.window < 0:
				fpSum += r.unit
			case hit[r.window] == 0:
				hit[r.window] = r.unit
				tpSum += r.unit
				hits++
			case r.unit > hit[r.window]:
				tpSum += r.unit - hit[r.window]
				hit[r.window] = r.unit
			}
		}
		raw := p.TP*tpSum - p.FN*float64(c.windows-hits) + p.FP*fpSum
		if raw > bestRaw {
			best, bestRaw = theta, raw
		}
	}
	return best
}

// TuneAll tunes every profile of Profiles.
func (c *Corpus) TuneAll() Report {
	var rep Report
	for _, p := range Profiles() {
		rep.Results = append(rep.Results, c.Tune(p))
	}
	return rep
}

// ScoreAt scores the corpus under p with a fixed threshold: a row after
// its file's probationary period is a detection when its score is at
// least threshold.
func (c *Corpus) ScoreAt(p Profile, threshold float64) Result {
	res := Result{
		Profile:   p,
		Threshold: threshold,
		Null:      -p.FN * float64(c.windows),
		Perfect:   p.TP * float64(c.windows),
		Windows:   c.windows,
		Files:     make([]FileResult, len(c.files)),
	}
	var delayRows int
	var delay time.Duration
	for k := range c.files {
		fr := c.files[k].score(p, threshold)
		res.Files[k] = fr
		res.Raw += fr.Raw
		res.Hits += fr.Hits
		res.FPRows += fr.FPRows
		res.FPEvents += fr.FPEvents
		for _, d := range fr.Delays {
			delayRows += d.Rows
			delay += d.Duration
		}
	}

	res.Score = math.NaN()
	if c.windows > 0 {
		res.Score = 100 * (res.Raw - res.Null) / (res.Perfect - res.Null)
	}
	res.Precision = ratio(res.Hits, res.Hits+res.FPEvents)
	res.Recall = ratio(res.Hits, res.Windows)
	if res.Precision+res.Recall > 0 {
		res.F1 = 2 * res.Precision * res.Recall / (res.Precision + res.Recall)
	}
	if res.Hits > 0 {
		res.MeanDelayRows = float64(delayRows) / float64(res.Hits)
		res.MeanDelay = delay / time.Duration(res.Hits)
	}
	return res
}

func ratio(num, den int) float64 {
	if den == 0 {
		return 0
	}
	return float64(num) / float64(den)
}

func (f *prepared) score(p Profile, threshold float64) FileResult {
	fr := FileResult{
		Name:      f.Name,
		Rows:      len(f.Scores),
		Probation: f.probation,
		Windows:   len(f.spans),
	}
	first := make([]int, len(f.spans))
	for k := range first {
		first[k] = -1
	}

	var fpSum float64
	inRun := false
	for i := f.probation; i < len(f.Scores); i++ {
		w := f.window[i]
		if f.Scores[i] < threshold || w >= 0 {
			inRun = false
		}
		switch {
		case f.Scores[i] < threshold:
		case w >= 0:
			if first[w] < 0 {
				first[w] = i
			}
		default:
			fpSum += f.unit[i]
			fr.FPRows++
			if !inRun {
				fr.FPEvents++
				inRun = true
			}
		}
	}

	fr.Raw = p.FP * fpSum
	for k, i := range first {
		if i < 0 {
			fr.Raw -= p.FN
			continue
		}
		// Weights fall along a window, so its first detection is its best.
		fr.Raw += p.TP * f.unit[i]
		fr.Hits++
		lo := f.spans[k].lo
		fr.Delays = append(fr.Delays, Delay{
			Window:   k,
			Rows:     i - lo,
			Duration: f.Timestamps[i].Sub(f.Timestamps[lo]),
		})
	}
	return fr
}
