package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowguard/flowguard/forecast"
	"github.com/flowguard/flowguard/internal/pgtest"
)

// chromium returns the path of a Chromium binary. Under CI=true a missing
// browser fails the test (.ci/run installs Debian's chromium); elsewhere
// the test is skipped with the reason.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no chromium on PATH; install it (apt-get install chromium) to run the browser test"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// browse runs headless Chromium, with a profile of its own and nothing
// that calls home, on pageURL with extra flags and returns its standard
// output.
func browse(t *testing.T, bin, pageURL string, flags ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--no-first-run", "--disable-dev-shm-usage", "--hide-scrollbars",
		"--user-data-dir=" + t.TempDir()}, flags...)
	cmd := exec.CommandContext(ctx, bin, append(args, pageURL)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", flags, err, errb.String())
	}
	return out.String()
}

// startDemo runs the built "detector demo --serve" on a fresh database
// with the HTTP listener on a free port, waits until its replay is scored
// and returns its base URL and its output so far. The demo is interrupted
// at cleanup, before the database is dropped.
func startDemo(t *testing.T, args ...string) (string, string) {
	t.Helper()
	bin := detectorBinary(t)
	db := pgtest.NewDatabase(t)
	cmd := exec.Command(bin, append([]string{"demo", "--demo_database=" + db, "--serve",
		"--http.addr=127.0.0.1:0"}, args...)...)
	// The settings come from the flags alone, whatever the environment.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FLOWGUARD_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	var out, logs syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("demo did not stop within 15s of an interrupt")
		}
	})

	deadline := time.After(45 * time.Second)
	for !strings.Contains(out.String(), "still serving") {
		select {
		case err := <-exited:
			t.Fatalf("demo exited: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(),
				logs.String())
		case <-deadline:
			t.Fatalf("demo's replay not scored within 45s\nstdout:\n%s\nstderr:\n%s",
				out.String(), logs.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	text := out.String()
	m := regexp.MustCompile(`serving http://(\S+)/ `).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("demo names no address:\n%s", text)
	}
	return "http://" + m[1], text
}

var (
	seriesLinkRe = regexp.MustCompile(`<a href="(/series\?key=[^"]*)">`)
	valuesLineRe = regexp.MustCompile(`<polyline class="values" points="([^"]*)"`)
	flagDotRe    = regexp.MustCompile(`<circle class="flag"`)
)

// TestBrowserDemo loads the dashboard of a running demo in headless
// Chromium: the series list, then the series page its link leads to,
// whose rendered DOM must hold the chart with one vertex of the recent
// values line per grid step the detector emitted (all but the newest,
// still open step of the replay), one dot per stored anomaly and the
// forecast fan sampled from the live state; a screenshot of that page
// must show the flags' red. The screenshot is saved in
// $FLOWGUARD_SCREENSHOT_DIR, or the test's temp directory. The forecast
// endpoint, on the same listener, must answer for the series.
func TestBrowserDemo(t *testing.T) {
	bin := chromium(t)
	start := time.Now()
	base, text := startDemo(t, "--show=3")
	t.Logf("demo scored its replay in %v", time.Since(start).Round(time.Millisecond))
	count := func(label string) int {
		m := regexp.MustCompile(regexp.QuoteMeta(label) + `\s+(\d+)`).FindStringSubmatch(text)
		if m == nil {
			t.Fatalf("demo summary lacks %q:\n%s", label, text)
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	points, anomalies := count("points read"), count("anomalies (p < 0.001)")

	list := browse(t, bin, base+"/", "--dump-dom")
	m := seriesLinkRe.FindStringSubmatch(list)
	if m == nil {
		t.Fatalf("series list has no link to a series page:\n%.2000s", list)
	}
	link, err := url.Parse(strings.ReplaceAll(m[1], "&amp;", "&"))
	if err != nil {
		t.Fatal(err)
	}
	key := link.Query().Get("key")
	if want := `machine_temperature{"host"="demo-1"}`; key != want {
		t.Fatalf("link leads to key %q, want %q", key, want)
	}
	page := base + link.String()

	dom := browse(t, bin, page, "--dump-dom")
	for _, want := range []string{`<svg`, `<polygon class="fan"`, `<polyline class="median"`} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered series page lacks %s", want)
		}
	}
	if lm := valuesLineRe.FindStringSubmatch(dom); lm == nil {
		t.Error("rendered series page has no line of recent values")
	} else if n := len(strings.Fields(lm[1])); n != points-1 {
		t.Errorf("recent values line has %d vertices, want %d (the steps emitted)", n,
			points-1)
	}
	if n := len(flagDotRe.FindAllString(dom, -1)); n != anomalies || n == 0 {
		t.Errorf("rendered series page has %d flag dots, want the %d anomalies stored",
			n, anomalies)
	}

	dir := os.Getenv("FLOWGUARD_SCREENSHOT_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, "dashboard-series.png")
	browse(t, bin, page, "--screenshot="+shot, "--window-size=1200,900")
	t.Logf("screenshot: %s", shot)
	if n := flagPixels(t, shot); n < 20 {
		t.Errorf("screenshot has %d pixels of the flag colour, want the flag dots", n)
	}

	checkForecastEndpoint(t, base, key)
	t.Logf("whole test %v", time.Since(start).Round(time.Millisecond))
}

// checkForecastEndpoint asks the detector's forecast endpoint for 6 steps
// of the series: they must start one grid step (5 minutes) after the
// newest step the detector holds, and each step's quantiles must be in
// order.
func checkForecastEndpoint(t *testing.T, base, key string) {
	t.Helper()
	resp, err := http.Get(base + "/api/forecast?horizon=6&paths=200&key=" +
		url.QueryEscape(key))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("forecast endpoint: %s", resp.Status)
	}
	var fc forecast.Forecast
	if err := json.NewDecoder(resp.Body).Decode(&fc); err != nil {
		t.Fatal(err)
	}
	// The generated series ends on 2026-01-18 23:55; that step is still
	// open, so the newest step held is 23:50.
	origin := time.Date(2026, 1, 18, 23, 50, 0, 0, time.UTC)
	if !fc.Origin.Equal(origin) || len(fc.Times) != 6 || !fc.Times[0].Equal(
		origin.Add(5*time.Minute)) || fc.NumPaths != 200 || len(fc.Quantiles) != 3 {
		t.Fatalf("forecast from %v, %d steps from %v, %d paths, %d levels; want from %v, "+
			"6 steps, 200 paths, 3 levels", fc.Origin, len(fc.Times), fc.Times, fc.NumPaths,
			len(fc.Quantiles), origin)
	}
	for k := range 6 {
		lo, mid, hi := fc.At(0, k, 0), fc.At(1, k, 0), fc.At(2, k, 0)
		if !(lo <= mid && mid <= hi) {
			t.Errorf("step %d: quantiles %v %v %v out of order", k+1, lo, mid, hi)
		}
	}
}

// flagPixels counts the pixels of the screenshot close to the flags' fill,
// #d93025 in the dashboard's style.css.
func flagPixels(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	near := func(v uint32, want int) bool {
		d := int(v>>8) - want
		return d > -12 && d < 12
	}
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if near(r, 0xd9) && near(g, 0x30) && near(bl, 0x25) {
				n++
			}
		}
	}
	return n
}
