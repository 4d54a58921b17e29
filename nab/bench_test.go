package nab_test

import (
	"path/filepath"
	"testing"

	"github.com/flowguard/flowguard/nab"
)

// BenchmarkLoad reads and prepares the numenta results of the 18-file
// development subset (about 114,000 rows).
func BenchmarkLoad(b *testing.B) {
	dir := datasets(b)
	results := filepath.Join(dir, "nab-reference-results", "numenta")
	labels := filepath.Join(dir, "nab", "combined_windows_dev.json")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := nab.Load(results, labels); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTuneAll tunes the three profiles on the prepared subset.
func BenchmarkTuneAll(b *testing.B) {
	c := loadReference(b, "numenta")
	b.ReportAllocs()
	for b.Loop() {
		c.TuneAll()
	}
}
