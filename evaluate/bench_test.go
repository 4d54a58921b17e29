package evaluate

import (
	"context"
	"path/filepath"
	"testing"
)

// BenchmarkReplay replays one 4,032-row NAB file (ec2 request latency)
// through the online path with the profile's settings: the flow's fits
// and retrains included.
func BenchmarkReplay(b *testing.B) {
	rows, err := readRows(filepath.Join(nabDir,
		"realKnownCause/ec2_request_latency_system_failure.csv"))
	if err != nil {
		b.Fatal(err)
	}
	set := DefaultSettings()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Replay(context.Background(), rows, set); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(rows))*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
