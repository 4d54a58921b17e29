package dashboard

import (
	"context"
	"crypto/subtle"
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/flowguard/flowguard/store"
)

// Source is the read side of the store the pages need. *store.Store
// implements it. Each list method returns at most limit rows.
type Source interface {
	ListSeries(ctx context.Context, limit int) ([]store.SeriesSummary, error)
	// SeriesByKey returns an error wrapping store.ErrNoSeries for an
	// unknown key; the page answers 404 for it.
	SeriesByKey(ctx context.Context, key string) (store.SeriesSummary, error)
	RecentAnomalies(ctx context.Context, key string, limit int) ([]store.FlaggedPoint, error)
	SeriesIncidents(ctx context.Context, key string, limit int) ([]store.IncidentSummary, error)
	ListModels(ctx context.Context) ([]store.ModelInfo, error)
	RecentDriftEvents(ctx context.Context, limit int) ([]store.DriftRecord, error)
}

var _ Source = (*store.Store)(nil)

// RecentValues gives the values a running detector holds in memory for a
// series: step times, oldest first, and one row of channel values per
// step. An unknown series gives empty slices. It is called from HTTP
// handlers, concurrently with the detector's own work, so an
// implementation must copy what it returns under its own lock.
type RecentValues interface {
	RecentValues(seriesKey string) ([]time.Time, [][]float64)
}

// Fan is a forecast interval for the series page: per future step, the
// lower edge, median and upper edge of each channel ([step][channel]).
type Fan struct {
	Times                []time.Time
	Lower, Median, Upper [][]float64
	// Level is the central probability of the interval, such as 0.9.
	Level float64
}

// Forecaster samples a forecast for a series. A series it cannot forecast
// (no model, not enough history) gives an error; the page then shows the
// error's text in place of the fan and still answers 200.
type Forecaster interface {
	Forecast(ctx context.Context, seriesKey string) (Fan, error)
}

// Options configures a Handler. The zero value serves everything at the
// root with no token, no live values and no forecasts.
type Options struct {
	// Token, when not empty, is the bearer token every request must carry
	// in its Authorization header.
	Token string
	// BasePath is the path prefix the handler is mounted under, such as
	// "/dashboard"; links on the pages carry it. Empty means the root.
	BasePath string
	// Recent supplies the recent values of the series pages; nil plots the
	// flagged points only.
	Recent RecentValues
	// Forecaster supplies the fan of the series pages; nil draws none.
	Forecaster Forecaster
	// Limit bounds every list on a page (default 200).
	Limit int
}

//go:embed templates/*.tmpl
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Handler serves the dashboard. It is safe for concurrent use.
type Handler struct {
	src  Source
	log  *slog.Logger
	opt  Options
	tmpl *template.Template
	mux  *http.ServeMux
}

var _ http.Handler = (*Handler)(nil)

// New returns a Handler reading from src. A nil log discards the messages
// of failed reads.
func New(src Source, log *slog.Logger, opt Options) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opt.BasePath = strings.TrimRight(opt.BasePath, "/")
	if opt.Limit <= 0 {
		opt.Limit = 200
	}
	h := &Handler{src: src, log: log, opt: opt}
	h.tmpl = template.Must(template.New("").Funcs(template.FuncMap{
		"base": func() string { return opt.BasePath },
		"ts":   formatTime,
		"tsp":  formatTimePtr,
		"num":  num,
		"nump": numPtr,
		"intp": intPtr,
		"add":  func(a, b float64) float64 { return a + b },
		"sub":  func(a, b float64) float64 { return a - b },
	}).ParseFS(templateFS, "templates/*.tmpl"))

	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic("dashboard: embedded static files missing: " + err.Error())
	}
	h.mux = http.NewServeMux()
	h.mux.HandleFunc("GET /{$}", h.seriesList)
	h.mux.HandleFunc("GET /series", h.seriesPage)
	h.mux.HandleFunc("GET /models", h.modelsPage)
	h.mux.HandleFunc("GET /drift", h.driftPage)
	h.mux.Handle("GET /static/", http.StripPrefix("/static/",
		http.FileServerFS(static)))
	return h
}

// ServeHTTP checks the token, strips the base path and serves the page.
// Only GET and HEAD are served.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	// The pages need nothing but their own style sheet; say so, so that a
	// value that slipped past escaping still could not load or run anything.
	hd.Set("Content-Security-Policy",
		"default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")

	if !h.authorized(r) {
		hd.Set("WWW-Authenticate", `Bearer realm="flowguard"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		http.Error(w, "read-only", http.StatusMethodNotAllowed)
		return
	}
	path := r.URL.Path
	if b := h.opt.BasePath; b != "" {
		if path != b && !strings.HasPrefix(path, b+"/") {
			http.NotFound(w, r)
			return
		}
		path = strings.TrimPrefix(path, b)
	}
	if path == "" {
		path = "/"
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path, r2.URL.RawPath = path, ""
	h.mux.ServeHTTP(w, r2)
}

func (h *Handler) authorized(r *http.Request) bool {
	if h.opt.Token == "" {
		return true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(h.opt.Token)) == 1
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func formatTimePtr(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return formatTime(*t)
}

func numPtr(v *float64) string {
	if v == nil {
		return "-"
	}
	return num(*v)
}

func intPtr(v *int) string {
	if v == nil {
		return "-"
	}
	return strconv.Itoa(*v)
}
