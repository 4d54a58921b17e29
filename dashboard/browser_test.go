package dashboard_test

import (
	"bytes"
	"context"
	"image/png"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/flowguard/flowguard/dashboard"
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

// browse runs headless Chromium on url with extra flags and returns its
// standard output.
func browse(t *testing.T, bin, pageURL string, flags ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu",
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

var hrefRe = regexp.MustCompile(`<a href="([^"]*series\?key=[^"]*)">cpu`)

// TestBrowser loads the dashboard in headless Chromium: the series list,
// then the series page its link leads to, whose rendered DOM must hold the
// chart with the value line, the forecast fan and one dot per flagged
// point; a screenshot of that page must show the flags' red. The
// screenshot is saved in $FLOWGUARD_SCREENSHOT_DIR, or the test's temp
// directory.
func TestBrowser(t *testing.T) {
	bin := chromium(t)
	live := liveValues{cpuKey: {1, 10, 2, -4, 7, 3}}
	fan := dashboard.Fan{Level: 0.9,
		Times: []time.Time{time.Date(2024, 1, 1, 6, 0, 0, 0, time.UTC),
			time.Date(2024, 1, 1, 7, 0, 0, 0, time.UTC)},
		Lower: [][]float64{{0}, {-1}}, Median: [][]float64{{3}, {3}},
		Upper: [][]float64{{6}, {8}}}
	h := dashboard.New(fixtureStore(t), nil, dashboard.Options{BasePath: "/dashboard",
		Recent: live, Forecaster: fixedFan{fan: fan}})
	srv := httptest.NewServer(h) // listens on 127.0.0.1
	defer srv.Close()

	list := browse(t, bin, srv.URL+"/dashboard/", "--dump-dom")
	m := hrefRe.FindStringSubmatch(list)
	if m == nil {
		t.Fatalf("series list has no link to the series page:\n%.2000s", list)
	}
	link, err := url.Parse(strings.ReplaceAll(m[1], "&amp;", "&"))
	if err != nil {
		t.Fatal(err)
	}
	page := srv.URL + link.String()
	if got := link.Query().Get("key"); got != cpuKey {
		t.Fatalf("link leads to key %q, want %q", got, cpuKey)
	}

	dom := browse(t, bin, page, "--dump-dom")
	for _, want := range []string{`<svg`, `<polyline class="values"`, `<polygon class="fan"`,
		`<rect class="incident open"`} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered series page lacks %s", want)
		}
	}
	if n := len(circleRe.FindAllString(dom, -1)); n != 3 {
		t.Errorf("rendered series page has %d flag dots, want 3", n)
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
		t.Errorf("screenshot has %d pixels of the flag colour, want the 3 dots", n)
	}
}

// flagPixels counts the pixels of the screenshot close to the flags' fill,
// #d93025 in style.css.
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
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if near(r>>8, 0xd9) && near(g>>8, 0x30) && near(bl>>8, 0x25) {
				n++
			}
		}
	}
	return n
}

func near(v uint32, want int) bool {
	d := int(v) - want
	return d > -12 && d < 12
}
