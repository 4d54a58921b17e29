package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/flowguard/flowguard/pipeline"
	"github.com/flowguard/flowguard/store"
	"github.com/flowguard/flowguard/timeseries"
)

type noResults struct{}

func (noResults) SaveResults(context.Context, store.Results) (int64, error) { return 0, nil }

type noModels struct{}

func (noModels) Champion(context.Context, string) (pipeline.Model, error) {
	return nil, pipeline.ErrNoModel
}

// TestForecastEndpoint checks the forecast endpoint on the detector's
// handler: it asks for the bearer token when one is set, and answers 404
// for a series the detector does not hold.
func TestForecastEndpoint(t *testing.T) {
	d, err := pipeline.NewDetector(pipeline.DetectorConfig{Brokers: []string{"127.0.0.1:1"},
		Topic: "s", Group: "g", Alpha: 0.01,
		Grid: timeseries.Config{Step: time.Minute, Window: 4}}, noResults{}, noModels{}, nil, nil,
		nil)
	if err != nil {
		t.Fatal(err)
	}
	h := handler(newRegistry(), nil, d, "secret", slog.New(slog.DiscardHandler))
	for _, c := range []struct {
		auth string
		want int
	}{
		{"", http.StatusUnauthorized},
		{"Bearer wrong", http.StatusUnauthorized},
		{"Bearer secret", http.StatusNotFound},
	} {
		r := httptest.NewRequest("GET", "/api/forecast?key=cpu&horizon=3", nil)
		if c.auth != "" {
			r.Header.Set("Authorization", c.auth)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != c.want {
			t.Errorf("authorization %q: %d %s, want %d", c.auth, w.Code, w.Body, c.want)
		}
	}
}
