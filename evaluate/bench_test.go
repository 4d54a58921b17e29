package evaluate

import (
	"context"
	"path/filepath"
	"testing"
)

// BenchmarkReplay replays one 4,032-row NAB file (ec2 request latency)
// through the online path with the linear baseline: the cost of the path
// itself, without flow training.
func BenchmarkReplay(b *testing.B) {
	rows, err := readRows(filepath.Join(nabDir,
		"realKnownCause/ec2_request_latency_system_failure.csv"))
	if err != nil {
		b.Fatal(err)
	}
	set := DefaultSettings()
	set.Fitter = ARFitter{}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Replay(context.Background(), rows, set); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(rows))*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
