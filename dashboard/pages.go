package dashboard

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/flowguard/flowguard/store"
)

// render executes the page template into a buffer first, so that a
// template failure becomes a clean 500 instead of half a page.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, name string, data any) {
	var buf bytes.Buffer
	if err := h.tmpl.ExecuteTemplate(&buf, name, data); err != nil {
		h.fail(w, r, "render "+name, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}

// fail answers 500 without the error's text, which may name database
// internals, and logs it.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, what string, err error) {
	h.log.Warn("dashboard page failed", "path", r.URL.Path, "step", what, "err", err)
	http.Error(w, "internal error", http.StatusInternalServerError)
}

type listPage struct {
	Title  string
	Series []store.SeriesSummary
}

func (h *Handler) seriesList(w http.ResponseWriter, r *http.Request) {
	list, err := h.src.ListSeries(r.Context(), h.opt.Limit)
	if err != nil {
		h.fail(w, r, "list series", err)
		return
	}
	h.render(w, r, "series_list", listPage{Title: "Series", Series: list})
}

type seriesPage struct {
	Title      string
	Series     store.SeriesSummary
	Charts     []chart
	Live       bool
	Flags      []store.FlaggedPoint
	Incidents  []store.IncidentSummary
	Forecast   *Fan
	ForecastEr string
}

func (h *Handler) seriesPage(w http.ResponseWriter, r *http.Request) {
	key := r.URL.Query().Get("key")
	ctx := r.Context()
	s, err := h.src.SeriesByKey(ctx, key)
	if errors.Is(err, store.ErrNoSeries) {
		http.Error(w, "no such series", http.StatusNotFound)
		return
	}
	if err != nil {
		h.fail(w, r, "series", err)
		return
	}
	flags, err := h.src.RecentAnomalies(ctx, key, h.opt.Limit)
	if err != nil {
		h.fail(w, r, "anomalies", err)
		return
	}
	incidents, err := h.src.SeriesIncidents(ctx, key, h.opt.Limit)
	if err != nil {
		h.fail(w, r, "incidents", err)
		return
	}
	p := seriesPage{Title: s.Key, Series: s, Flags: flags, Incidents: incidents}
	d := chartData{flags: flags, incidents: incidents}
	if h.opt.Recent != nil {
		d.times, d.values = h.opt.Recent.RecentValues(key)
		if len(d.values) != len(d.times) {
			d.times, d.values = nil, nil
		}
		p.Live = len(d.times) > 0
	}
	if h.opt.Forecaster != nil {
		fan, err := h.opt.Forecaster.Forecast(ctx, key)
		switch {
		case err != nil:
			p.ForecastEr = err.Error()
		case validFan(&fan):
			p.Forecast, d.fan = &fan, &fan
		default:
			p.ForecastEr = "forecast has inconsistent lengths"
		}
	}
	p.Charts = layoutCharts(&d)
	h.render(w, r, "series", p)
}

func validFan(f *Fan) bool {
	n := len(f.Times)
	return n > 0 && len(f.Lower) == n && len(f.Median) == n && len(f.Upper) == n
}

type modelRow struct {
	store.ModelInfo
	MetricList []metric
}

type metric struct{ Name, Value string }

type modelsPage struct {
	Title  string
	Models []modelRow
}

func (h *Handler) modelsPage(w http.ResponseWriter, r *http.Request) {
	models, err := h.src.ListModels(r.Context())
	if err != nil {
		h.fail(w, r, "list models", err)
		return
	}
	if len(models) > h.opt.Limit {
		models = models[:h.opt.Limit]
	}
	rows := make([]modelRow, len(models))
	for i, m := range models {
		rows[i] = modelRow{ModelInfo: m, MetricList: metrics(m.Metrics)}
	}
	h.render(w, r, "models", modelsPage{Title: "Models", Models: rows})
}

// metrics flattens the trainer's metrics JSON into sorted name/value pairs;
// nested values stay as compact JSON. Text that is not a JSON object is
// shown as it is.
func metrics(raw []byte) []metric {
	if len(raw) == 0 {
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return []metric{{Name: "raw", Value: string(raw)}}
	}
	out := make([]metric, 0, len(m))
	for k, v := range m {
		val := string(v)
		var f float64
		if json.Unmarshal(v, &f) == nil {
			val = num(f)
		}
		out = append(out, metric{Name: k, Value: strings.Trim(val, `"`)})
	}
	slices.SortFunc(out, func(a, b metric) int { return strings.Compare(a.Name, b.Name) })
	return out
}

type driftPage struct {
	Title  string
	Events []store.DriftRecord
}

func (h *Handler) driftPage(w http.ResponseWriter, r *http.Request) {
	ev, err := h.src.RecentDriftEvents(r.Context(), h.opt.Limit)
	if err != nil {
		h.fail(w, r, "drift events", err)
		return
	}
	h.render(w, r, "drift", driftPage{Title: "Drift events", Events: ev})
}
