package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildOut  []byte
)

// detectorBinary builds the detector once per test run and returns its
// path; TestMain removes it.
func detectorBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "flowguard-detector-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "detector")
		buildOut, buildErr = exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("build: %v\n%s", buildErr, buildOut)
	}
	return binPath
}

func TestMain(m *testing.M) {
	// In-process tests see no FLOWGUARD_ variable of the machine they run
	// on, so none is warned about in output they compare.
	environ = func() []string { return nil }
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}
