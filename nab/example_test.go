package nab_test

import (
	"fmt"
	"time"

	"github.com/flowguard/flowguard/nab"
)

func ExampleCorpus_Tune() {
	// One 40-row file, five-minute steps, a window over rows 20-23 and a
	// detector that fires on row 21 and, weaker, on row 30.
	start := time.Date(2014, 4, 1, 0, 0, 0, 0, time.UTC)
	f := nab.File{Name: "demo/series.csv"}
	for i := range 40 {
		f.Timestamps = append(f.Timestamps, start.Add(time.Duration(i)*5*time.Minute))
		f.Scores = append(f.Scores, 0.1)
	}
	f.Scores[21], f.Scores[30] = 0.9, 0.6
	f.Windows = []nab.Window{{First: f.Timestamps[20], Last: f.Timestamps[23]}}

	c, err := nab.NewCorpus([]nab.File{f})
	if err != nil {
		fmt.Println(err)
		return
	}
	rep := c.TuneAll()
	fmt.Println(rep.Summary())
	res := rep.Results[0]
	fmt.Printf("threshold %v, %d of %d windows, %d false-positive rows, delay %v\n",
		res.Threshold, res.Hits, res.Windows, res.FPRows, res.MeanDelay)
	// Output:
	// standard=98.35 reward_low_FP=98.35 reward_low_FN=98.90
	// threshold 0.9, 1 of 1 windows, 0 false-positive rows, delay 5m0s
}
