package dashboard_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowguard/flowguard/dashboard"
	"github.com/flowguard/flowguard/internal/pgtest"
	"github.com/flowguard/flowguard/store"
)

const (
	cpuKey  = `cpu{host="a"}`
	evilKey = `<script>alert(1)</script>"onmouseover="x&y`
)

// fixtureStore returns a store on a fresh database holding
// testdata/fixture.sql.
func fixtureStore(t *testing.T) *store.Store {
	t.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	sql, err := os.ReadFile("testdata/fixture.sql")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pool().Exec(ctx, string(sql)); err != nil {
		t.Fatal(err)
	}
	return s
}

// get requests path from h with an optional bearer token and returns the
// status and body.
func get(t *testing.T, h http.Handler, path, token string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	body, _ := io.ReadAll(rec.Body)
	return rec.Code, string(body)
}

func seriesPath(base, key string) string {
	return base + "/series?key=" + url.QueryEscape(key)
}

type liveValues map[string][]float64

// RecentValues gives hourly steps from 2024-01-01T00:00Z.
func (l liveValues) RecentValues(key string) ([]time.Time, [][]float64) {
	v := l[key]
	ts := make([]time.Time, len(v))
	rows := make([][]float64, len(v))
	for i, x := range v {
		ts[i] = time.Date(2024, 1, 1, i, 0, 0, 0, time.UTC)
		rows[i] = []float64{x}
	}
	return ts, rows
}

type fixedFan struct {
	fan dashboard.Fan
	err error
}

func (f fixedFan) Forecast(context.Context, string) (dashboard.Fan, error) {
	return f.fan, f.err
}

func TestStatusCodes(t *testing.T) {
	h := dashboard.New(fixtureStore(t), nil, dashboard.Options{BasePath: "/dash/"})
	cases := []struct {
		name, path string
		want       int
		contains   string
	}{
		{"series list", "/dash/", 200, "cpu{host=&#34;a&#34;}"},
		{"base without slash", "/dash", 200, "<table id=\"series\">"},
		{"series page", seriesPath("/dash", cpuKey), 200, "<svg"},
		{"unknown series", seriesPath("/dash", "nope"), 404, "no such series"},
		{"models", "/dash/models", 200, "valid_nll"},
		{"drift", "/dash/drift", 200, "0.375"},
		{"style sheet", "/dash/static/style.css", 200, ".flag"},
		{"unknown page", "/dash/nothing", 404, ""},
		{"outside base path", "/models", 404, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := get(t, h, tc.path, "")
			if code != tc.want {
				t.Fatalf("GET %s = %d, want %d; body %.300s", tc.path, code, tc.want, body)
			}
			if !strings.Contains(body, tc.contains) {
				t.Fatalf("GET %s body lacks %q: %.500s", tc.path, tc.contains, body)
			}
		})
	}

	req := httptest.NewRequest(http.MethodPost, "/dash/", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("POST = %d, want 405 (read-only)", rec.Code)
	}
}

func TestToken(t *testing.T) {
	h := dashboard.New(fixtureStore(t), nil, dashboard.Options{Token: "s3cret"})
	for _, path := range []string{"/", "/models", "/drift", "/static/style.css",
		seriesPath("", cpuKey)} {
		if code, _ := get(t, h, path, ""); code != http.StatusUnauthorized {
			t.Errorf("GET %s without token = %d, want 401", path, code)
		}
		if code, _ := get(t, h, path, "wrong"); code != http.StatusUnauthorized {
			t.Errorf("GET %s with a wrong token = %d, want 401", path, code)
		}
		if code, _ := get(t, h, path, "s3cret"); code != http.StatusOK {
			t.Errorf("GET %s with the token = %d, want 200", path, code)
		}
	}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Authorization", "Basic czNjcmV0")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized || rec.Header().Get("WWW-Authenticate") == "" {
		t.Fatalf("basic auth: %d, WWW-Authenticate %q; want 401 with a challenge",
			rec.Code, rec.Header().Get("WWW-Authenticate"))
	}
}

var (
	circleRe = regexp.MustCompile(`<circle class="flag" cx="([0-9.]+)" cy="([0-9.]+)"`)
	valuesRe = regexp.MustCompile(`<polyline class="values" points="([^"]+)"`)
)

// TestSeriesChartFlagsOnly checks the page without live values: the flagged
// points are the chart, one dot each, the highest value highest on screen.
func TestSeriesChartFlagsOnly(t *testing.T) {
	h := dashboard.New(fixtureStore(t), nil, dashboard.Options{})
	_, body := get(t, h, seriesPath("", cpuKey), "")
	if !strings.Contains(body, "<svg") {
		t.Fatal("series page has no <svg>")
	}
	if strings.Contains(body, `class="values"`) {
		t.Error("a values line is drawn although no live values exist")
	}
	dots := circleRe.FindAllStringSubmatch(body, -1)
	if len(dots) != 3 {
		t.Fatalf("%d flag dots, want the 3 flagged points", len(dots))
	}
	// Flags come newest first: values 7 (04:00), -4 (03:00), 10 (01:00).
	// SVG y grows downwards, so 10 is highest (smallest y), -4 lowest.
	y := func(i int) float64 {
		v, err := strconv.ParseFloat(dots[i][2], 64)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if !(y(2) < y(0) && y(0) < y(1)) {
		t.Errorf("dot heights %v, %v, %v do not order the values 10 > 7 > -4",
			y(2), y(0), y(1))
	}
	for _, want := range []string{`class="incident open"`, `<table id="incidents">`,
		"No live values"} {
		if !strings.Contains(body, want) {
			t.Errorf("series page lacks %q", want)
		}
	}
}

// TestSeriesChartLive checks the page with live values and a forecast: the
// value line has one point per step, the flags inside its range are
// marked, and the fan is drawn.
func TestSeriesChartLive(t *testing.T) {
	live := liveValues{cpuKey: {1, 10, 2, -4, 7, 3}} // 00:00 .. 05:00
	fanTimes := []time.Time{time.Date(2024, 1, 1, 6, 0, 0, 0, time.UTC),
		time.Date(2024, 1, 1, 7, 0, 0, 0, time.UTC)}
	fan := dashboard.Fan{Times: fanTimes, Level: 0.9,
		Lower:  [][]float64{{0}, {-1}},
		Median: [][]float64{{3}, {3}},
		Upper:  [][]float64{{6}, {8}}}
	h := dashboard.New(fixtureStore(t), nil, dashboard.Options{Recent: live,
		Forecaster: fixedFan{fan: fan}})
	_, body := get(t, h, seriesPath("", cpuKey), "")

	m := valuesRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no values polyline")
	}
	if n := len(strings.Fields(m[1])); n != 6 {
		t.Fatalf("values line has %d points, want 6", n)
	}
	dots := circleRe.FindAllStringSubmatch(body, -1)
	if len(dots) != 3 {
		t.Fatalf("%d flag dots, want 3", len(dots))
	}
	// A flagged point sits on the line: the 01:00 flag (value 10) is the
	// line's second point.
	second := strings.Fields(m[1])[1]
	if got := dots[2][1] + "," + dots[2][2]; got != second {
		t.Errorf("flag at 01:00 drawn at %s, line point at %s", got, second)
	}
	if !strings.Contains(body, `<polygon class="fan"`) ||
		!strings.Contains(body, `<polyline class="median"`) {
		t.Error("forecast fan missing")
	}
	if strings.Contains(body, "No live values") {
		t.Error("page claims no live values")
	}

	h = dashboard.New(fixtureStore(t), nil, dashboard.Options{
		Forecaster: fixedFan{err: errors.New("no model for group <hosts>")}})
	code, body := get(t, h, seriesPath("", cpuKey), "")
	if code != 200 || !strings.Contains(body, "No forecast: no model for group &lt;hosts&gt;") {
		t.Fatalf("forecast error page: %d, %.400s", code, body)
	}
}

// TestHostileSeriesName checks that a series key made of markup comes out
// as text everywhere: in the list, in links and on its own page.
func TestHostileSeriesName(t *testing.T) {
	h := dashboard.New(fixtureStore(t), nil, dashboard.Options{})
	_, list := get(t, h, "/", "")
	code, page := get(t, h, seriesPath("", evilKey), "")
	if code != 200 {
		t.Fatalf("page of the hostile series: %d", code)
	}
	for name, body := range map[string]string{"list": list, "page": page} {
		if strings.Contains(body, "<script>") || strings.Contains(body, `"onmouseover="`) {
			t.Errorf("%s: the key's markup is in the page unescaped", name)
		}
		if !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("%s: escaped key missing", name)
		}
	}
	wantHref := `href="/series?key=` + url.QueryEscape(evilKey) + `"`
	wantHref = strings.ReplaceAll(wantHref, "+", "%2b")
	if !strings.Contains(strings.ToLower(list), strings.ToLower(wantHref)) {
		t.Errorf("list lacks the query-escaped link %s", wantHref)
	}
}
