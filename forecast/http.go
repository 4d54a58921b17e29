package forecast

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/flowguard/flowguard/scorer"
)

// ErrUnknownSeries is returned (wrapped) by a Source that has no model or
// no history for a series; the handler answers 404 for it.
var ErrUnknownSeries = errors.New("forecast: unknown series")

// Source gives the forecast endpoint what it needs for one series: the
// model that scores it and its grid so far (see History).
type Source interface {
	// ForecastInput returns the model and history of the series. The
	// handler only reads the model (it samples from a clone), so the
	// source may return the model a detector scores with. The history
	// must not change while the request runs.
	ForecastInput(ctx context.Context, seriesKey string) (*scorer.Model, History, error)
}

// Request limits of the endpoint: sampling costs N*h flow passes, so a
// request cannot ask for more than this.
const (
	MaxRequestPaths   = 5000
	MaxRequestHorizon = 1000
)

// Handler serves forecasts as JSON: GET with the query parameters key (the
// series key, required), horizon, paths, levels (comma-separated) and
// seed, each defaulting to the handler's Options. The body is a Forecast.
// It answers 400 for bad parameters, 404 for an unknown series, 422 when
// the series' history is too short to forecast, its step is not the
// model's or its newest steps hold an extreme value (ErrExtremeHistory),
// and 500 otherwise.
type Handler struct {
	src Source
	def Options
}

// NewHandler returns a Handler reading from src, with def for the
// parameters a request leaves out.
func NewHandler(src Source, def Options) *Handler {
	return &Handler{src: src, def: def}
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "forecast: GET only", http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	key := q.Get("key")
	opt, err := h.options(q.Get("horizon"), q.Get("paths"), q.Get("levels"), q.Get("seed"))
	if key == "" && err == nil {
		err = errors.New("forecast: the key parameter is required")
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	fc, err := h.Forecast(r.Context(), key, opt)
	switch {
	case errors.Is(err, ErrUnknownSeries):
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	case errors.Is(err, ErrShortHistory), errors.Is(err, ErrStepMismatch),
		errors.Is(err, ErrExtremeHistory):
		http.Error(w, err.Error(), http.StatusUnprocessableEntity)
		return
	case err != nil:
		http.Error(w, "forecast failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(fc)
}

// Forecast samples a forecast of the series with opt, from a clone of the
// source's model so that the source's model is never written to.
func (h *Handler) Forecast(ctx context.Context, key string, opt Options) (*Forecast, error) {
	m, hist, err := h.src.ForecastInput(ctx, key)
	if err != nil {
		return nil, err
	}
	return Sample(m.Clone(), hist, opt)
}

func (h *Handler) options(horizon, paths, levels, seed string) (Options, error) {
	opt := h.def
	var err error
	if horizon != "" {
		if opt.Horizon, err = strconv.Atoi(horizon); err != nil || opt.Horizon < 1 ||
			opt.Horizon > MaxRequestHorizon {
			return opt, errors.New("forecast: horizon must be an integer in [1, " +
				strconv.Itoa(MaxRequestHorizon) + "]")
		}
	}
	if paths != "" {
		if opt.Paths, err = strconv.Atoi(paths); err != nil || opt.Paths < 1 ||
			opt.Paths > MaxRequestPaths {
			return opt, errors.New("forecast: paths must be an integer in [1, " +
				strconv.Itoa(MaxRequestPaths) + "]")
		}
	}
	if levels != "" {
		opt.Levels = nil
		for _, f := range strings.Split(levels, ",") {
			v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil || !(v > 0 && v < 1) || len(opt.Levels) >= 99 ||
				slices.Contains(opt.Levels, v) {
				return opt, errors.New("forecast: levels must be up to 99 distinct numbers " +
					"in (0, 1)")
			}
			opt.Levels = append(opt.Levels, v)
		}
	}
	if seed != "" {
		if opt.Seed, err = strconv.ParseUint(seed, 10, 64); err != nil {
			return opt, errors.New("forecast: seed must be an unsigned integer")
		}
	}
	return opt, nil
}

// Band returns the quantile at level index j of every step as rows of
// channel values ([step][channel]), the layout of a chart.
func (f *Forecast) Band(j int) [][]float64 {
	out := make([][]float64, len(f.Times))
	for k := range out {
		out[k] = f.Quantiles[j][k*f.Channels : (k+1)*f.Channels]
	}
	return out
}
