package config

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the settings tables in README.md")

// TestREADMESettings keeps the README's settings tables equal to the
// settings the commands really have. Run with -update to rewrite them.
func TestREADMESettings(t *testing.T) {
	const path = "../../README.md"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for _, sec := range []struct {
		name string
		cfg  any
	}{{"detector", DefaultDetector()}, {"trainer", DefaultTrainer()}} {
		start := "<!-- settings:" + sec.name + " -->\n"
		i := strings.Index(text, start)
		j := strings.Index(text[i+len(start):], "<!-- end -->")
		if i < 0 || j < 0 {
			t.Fatalf("README lacks the %q markers", start)
		}
		want := strings.Join(Table(sec.cfg), "\n") + "\n"
		got := text[i+len(start) : i+len(start)+j]
		if got == want {
			continue
		}
		if !*update {
			t.Errorf("README's %s settings table is out of date; run "+
				"go test ./internal/config -run TestREADMESettings -update", sec.name)
			continue
		}
		text = text[:i+len(start)] + want + text[i+len(start)+j:]
	}
	if *update {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
