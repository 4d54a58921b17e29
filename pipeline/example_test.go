package pipeline_test

import (
	"fmt"

	"github.com/flowguard/flowguard/pipeline"
)

// ExampleParseGroups shows how settings become model groups: web series by
// metric name, one model per database host, the rest in the default group.
func ExampleParseGroups() {
	rules, err := pipeline.ParseGroups(
		[]string{`web=^http_`, `db=\{"role"="db"`},
		[]string{"db"},
		[]string{"web=0.01"})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range rules {
		fmt.Printf("%s per-series=%t alpha=%g\n", r.Name, r.PerSeries, r.Alpha)
	}
	// Output:
	// web per-series=false alpha=0.01
	// db per-series=true alpha=0
	// default per-series=false alpha=0
}
