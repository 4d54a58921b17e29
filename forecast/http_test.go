package forecast

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/flowguard/flowguard/scorer"
)

type fakeSource struct{ m *scorer.Model }

func (f fakeSource) ForecastInput(_ context.Context, key string) (*scorer.Model, History,
	error) {
	switch key {
	case "ar":
		return f.m, arHistory(2), nil
	case "short":
		return f.m, arHistory(2).Slice(0, 1), nil
	case "glitch": // the newest step is -1e308, a glitch no forecast starts from
		h := arHistory(2)
		h.Values[4] = -1e308
		return f.m, h, nil
	case "hourly": // the model's step is a minute
		h := arHistory(2)
		for i := range h.Times {
			h.Times[i] = arEpoch.Add(time.Duration(i) * time.Hour)
		}
		return f.m, h, nil
	}
	return nil, History{}, fmt.Errorf("series %q: %w", key, ErrUnknownSeries)
}

func TestHandler(t *testing.T) {
	h := NewHandler(fakeSource{ar1Model(t)}, Options{Horizon: 4, Paths: 100})
	cases := []struct {
		query string
		want  int
	}{
		{"?key=ar", 200},
		{"?key=ar&horizon=6&paths=50&levels=0.1,0.9&seed=3", 200},
		{"?key=nope", 404},
		{"?key=short", 422},
		{"?key=hourly", 422},
		{"?key=glitch", 422},
		{"?key=ar&levels=0.5,0.5", 400},
		{"?horizon=3", 400},
		{"?key=ar&horizon=0", 400},
		{"?key=ar&horizon=1001", 400},
		{"?key=ar&paths=5001", 400},
		{"?key=ar&levels=0.5,1", 400},
		{"?key=ar&seed=-1", 400},
	}
	for _, tc := range cases {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/forecast"+tc.query, nil))
		if rec.Code != tc.want {
			t.Errorf("GET %s = %d, want %d (%s)", tc.query, rec.Code, tc.want, rec.Body)
		}
	}

	get := func() Forecast {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet,
			"/forecast?key=ar&horizon=6&levels=0.1,0.9&seed=3", nil))
		var fc Forecast
		if err := json.Unmarshal(rec.Body.Bytes(), &fc); err != nil {
			t.Fatal(err)
		}
		return fc
	}
	a, b := get(), get()
	if len(a.Times) != 6 || a.NumPaths != 100 || len(a.Levels) != 2 ||
		a.Quantiles[0][5] >= a.Quantiles[1][5] {
		t.Fatalf("forecast %+v", a)
	}
	if a.Quantiles[1][2] != b.Quantiles[1][2] {
		t.Error("one seed gave two forecasts")
	}
	if band := a.Band(1); len(band) != 6 || band[5][0] != a.Quantiles[1][5] {
		t.Errorf("Band(1) = %v", band)
	}

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/forecast?key=ar&levels=0.9,0.1",
		nil))
	var fc Forecast
	if err := json.Unmarshal(rec.Body.Bytes(), &fc); err != nil ||
		!slices.Equal(fc.Levels, []float64{0.1, 0.9}) {
		t.Errorf("levels=0.9,0.1: levels %v, %v; want 0.1, 0.9", fc.Levels, err)
	}

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/forecast?key=ar", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST = %d, want 405", rec.Code)
	}
}
