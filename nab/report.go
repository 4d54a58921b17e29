package nab

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Report holds the results of several profiles on one corpus, usually the
// three of Profiles in that order.
type Report struct {
	Results []Result
}

// Summary returns the one-line summary of the normalised scores with two
// decimals, e.g. "standard=61.30 reward_low_FP=54.31 reward_low_FN=66.20".
func (r Report) Summary() string {
	parts := make([]string, len(r.Results))
	for i, res := range r.Results {
		parts[i] = fmt.Sprintf("%s=%.2f", res.Profile.Short, res.Score)
	}
	return strings.Join(parts, " ")
}

// Thresholds returns the threshold of every result, by profile name, ready
// to be saved and applied to other data.
func (r Report) Thresholds() Thresholds {
	t := make(Thresholds, len(r.Results))
	for _, res := range r.Results {
		t[res.Profile.Name] = res.Threshold
	}
	return t
}

// WriteTable writes, for every result, a heading line with the profile's
// totals and a Markdown table with one line per file and a total line.
// Delays are the mean over the file's hit windows.
func (r Report) WriteTable(w io.Writer) error {
	for i, res := range r.Results {
		if i > 0 {
			if _, err := io.WriteString(w, "\n"); err != nil {
				return fmt.Errorf("nab: write table: %w", err)
			}
		}
		if err := res.WriteTable(w); err != nil {
			return err
		}
	}
	return nil
}

// WriteTable writes the result's heading line and per-file Markdown table.
func (res Result) WriteTable(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: score %.2f, threshold %.6g, raw %.3f (null %.1f, perfect %.1f), "+
		"precision %.3f, recall %.3f, F1 %.3f\n\n",
		res.Profile.Name, res.Score, res.Threshold, res.Raw, res.Null, res.Perfect,
		res.Precision, res.Recall, res.F1)
	b.WriteString("| file | rows | windows | hits | fp rows | fp events | raw | mean delay |\n")
	b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, f := range res.Files {
		rows, dur := f.meanDelay()
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %.3f | %s |\n",
			f.Name, f.Rows, f.Windows, f.Hits, f.FPRows, f.FPEvents, f.Raw,
			formatDelay(f.Hits, rows, dur))
	}
	fmt.Fprintf(&b, "| total | | %d | %d | %d | %d | %.3f | %s |\n",
		res.Windows, res.Hits, res.FPRows, res.FPEvents, res.Raw,
		formatDelay(res.Hits, res.MeanDelayRows, res.MeanDelay))

	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("nab: write table: %w", err)
	}
	return nil
}

func (f FileResult) meanDelay() (float64, time.Duration) {
	if len(f.Delays) == 0 {
		return 0, 0
	}
	var rows int
	var dur time.Duration
	for _, d := range f.Delays {
		rows += d.Rows
		dur += d.Duration
	}
	return float64(rows) / float64(len(f.Delays)), dur / time.Duration(len(f.Delays))
}

func formatDelay(hits int, rows float64, dur time.Duration) string {
	if hits == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f rows (%s)", rows, dur.Round(time.Second))
}
