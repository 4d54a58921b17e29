package dashboard

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/flowguard/flowguard/store"
)

// Chart geometry, in SVG user units. The plot area is inset by margins
// that leave room for the axis labels.
const (
	chartWidth   = 900
	chartHeight  = 300
	marginLeft   = 64
	marginRight  = 16
	marginTop    = 12
	marginBottom = 28
	yTicks       = 5
	xTicks       = 6
)

// chart is one channel of a series page, laid out for the SVG template:
// every coordinate is already in user units.
type chart struct {
	Channel       int
	Width, Height int
	// Plot area.
	Left, Top, Right, Bottom float64
	// Line is the recent values as polyline points ("x,y x,y ..."); empty
	// when no recent values are known.
	Line string
	// Flags are the flagged points inside the time range.
	Flags []dot
	// Band is the forecast interval as polygon points and Median its
	// centre line; both empty without a forecast.
	Band, Median string
	// Spans shade the incidents overlapping the time range.
	Spans  []span
	XTicks []tick
	YTicks []tick
	// Empty is true when there is nothing to draw.
	Empty bool
}

type dot struct {
	X, Y  float64
	Title string
}

type span struct {
	X0, X1 float64
	Open   bool
}

type tick struct {
	Pos   float64
	Label string
}

// chartData is what one series page knows, before layout.
type chartData struct {
	times     []time.Time
	values    [][]float64 // [step][channel]
	flags     []store.FlaggedPoint
	incidents []store.IncidentSummary
	fan       *Fan
}

// channels returns the number of channels seen in any of the inputs, at
// least 1.
func (d *chartData) channels() int {
	n := 1
	for _, v := range d.values {
		n = max(n, len(v))
	}
	for _, p := range d.flags {
		n = max(n, len(p.Value))
	}
	if d.fan != nil {
		for _, v := range d.fan.Median {
			n = max(n, len(v))
		}
	}
	return n
}

// timeRange is the span the x axis covers: the recent values and the
// forecast when there are recent values, otherwise the flagged points and
// the forecast.
func (d *chartData) timeRange() (t0, t1 time.Time, ok bool) {
	widen := func(t time.Time) {
		if !ok || t.Before(t0) {
			t0 = t
		}
		if !ok || t.After(t1) {
			t1 = t
		}
		ok = true
	}
	for _, t := range d.times {
		widen(t)
	}
	if !ok {
		for _, p := range d.flags {
			widen(p.TS)
		}
	}
	if d.fan != nil {
		for _, t := range d.fan.Times {
			widen(t)
		}
	}
	return t0, t1, ok
}

// layoutCharts lays out one chart per channel.
func layoutCharts(d *chartData) []chart {
	n := d.channels()
	out := make([]chart, n)
	for c := range n {
		out[c] = layoutChart(d, c)
	}
	return out
}

func layoutChart(d *chartData, c int) chart {
	ch := chart{Channel: c, Width: chartWidth, Height: chartHeight,
		Left: marginLeft, Top: marginTop, Right: chartWidth - marginRight,
		Bottom: chartHeight - marginBottom}
	t0, t1, ok := d.timeRange()
	if !ok {
		ch.Empty = true
		return ch
	}
	inRange := func(t time.Time) bool { return !t.Before(t0) && !t.After(t1) }
	lo, hi := math.Inf(1), math.Inf(-1)
	seen := func(v []float64) {
		if c < len(v) && !math.IsNaN(v[c]) && !math.IsInf(v[c], 0) {
			lo, hi = min(lo, v[c]), max(hi, v[c])
		}
	}
	for _, v := range d.values {
		seen(v)
	}
	for _, p := range d.flags {
		if inRange(p.TS) {
			seen(p.Value)
		}
	}
	if d.fan != nil {
		for i := range d.fan.Times {
			seen(d.fan.Lower[i])
			seen(d.fan.Upper[i])
		}
	}
	if lo > hi {
		ch.Empty = true
		return ch
	}
	lo, hi = padRange(lo, hi)
	sc := scaler{t0: t0, t1: t1, lo: lo, hi: hi, ch: &ch}

	var line []string
	for i, t := range d.times {
		if c < len(d.values[i]) && finite(d.values[i][c]) {
			line = append(line, sc.point(t, d.values[i][c]))
		}
	}
	ch.Line = strings.Join(line, " ")
	for _, p := range d.flags {
		if inRange(p.TS) && c < len(p.Value) && finite(p.Value[c]) {
			ch.Flags = append(ch.Flags, dot{X: sc.x(p.TS), Y: sc.y(p.Value[c]),
				Title: p.TS.UTC().Format(time.RFC3339) + "  value " + num(p.Value[c]) +
					"  score " + num(p.Score) + "  p " + num(p.PValue)})
		}
	}
	for _, in := range d.incidents {
		if in.LastTS.Before(t0) || in.FirstTS.After(t1) {
			continue
		}
		a, b := in.FirstTS, in.LastTS
		if a.Before(t0) {
			a = t0
		}
		if b.After(t1) {
			b = t1
		}
		ch.Spans = append(ch.Spans, span{X0: sc.x(a), X1: max(sc.x(b), sc.x(a)+2),
			Open: in.State == "open"})
	}
	if d.fan != nil {
		t, v, ok := d.lastValue(c)
		ch.Band, ch.Median = sc.fan(d.fan, c, t, v, ok)
	}
	ch.XTicks, ch.YTicks = sc.ticks()
	return ch
}

// padRange widens [lo, hi] by 5% on each side, and a single value by one
// unit of its magnitude, so that points do not sit on the frame.
func padRange(lo, hi float64) (float64, float64) {
	if hi == lo {
		d := math.Max(math.Abs(lo)*0.1, 1)
		return lo - d, hi + d
	}
	d := (hi - lo) * 0.05
	return lo - d, hi + d
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// scaler maps times and values to the plot area of ch.
type scaler struct {
	t0, t1 time.Time
	lo, hi float64
	ch     *chart
}

func (s scaler) x(t time.Time) float64 {
	span := s.t1.Sub(s.t0)
	if span <= 0 {
		return (s.ch.Left + s.ch.Right) / 2
	}
	f := float64(t.Sub(s.t0)) / float64(span)
	return round1(s.ch.Left + f*(s.ch.Right-s.ch.Left))
}

func (s scaler) y(v float64) float64 {
	f := (v - s.lo) / (s.hi - s.lo)
	return round1(s.ch.Bottom - f*(s.ch.Bottom-s.ch.Top))
}

func (s scaler) point(t time.Time, v float64) string {
	return coord(s.x(t)) + "," + coord(s.y(v))
}

// lastValue returns the newest recent value of channel c and its time; ok
// is false when there is none.
func (d *chartData) lastValue(c int) (t time.Time, v float64, ok bool) {
	n := len(d.values)
	if n == 0 || c >= len(d.values[n-1]) || !finite(d.values[n-1][c]) {
		return t, 0, false
	}
	return d.times[n-1], d.values[n-1][c], true
}

// fan returns the interval band (upper edge forward, lower edge back) and
// the median line of channel c, both starting at the newest observed value
// when there is one, so that the fan grows out of the line.
func (s scaler) fan(f *Fan, c int, t0 time.Time, v0 float64, from bool) (band,
	median string) {
	var up, down, mid []string
	if from {
		p := s.point(t0, v0)
		up, down, mid = append(up, p), append(down, p), append(mid, p)
	}
	for i, t := range f.Times {
		if c >= len(f.Lower[i]) || c >= len(f.Upper[i]) || c >= len(f.Median[i]) {
			continue
		}
		up = append(up, s.point(t, f.Upper[i][c]))
		down = append(down, s.point(t, f.Lower[i][c]))
		mid = append(mid, s.point(t, f.Median[i][c]))
	}
	for i, j := 0, len(down)-1; i < j; i, j = i+1, j-1 {
		down[i], down[j] = down[j], down[i]
	}
	return strings.Join(append(up, down...), " "), strings.Join(mid, " ")
}

func (s scaler) ticks() (xs, ys []tick) {
	span := s.t1.Sub(s.t0)
	layout := "01-02 15:04"
	if span < 2*time.Hour {
		layout = "15:04:05"
	}
	n := xTicks
	if span <= 0 {
		n = 1
	}
	for i := range n {
		t := s.t0.Add(time.Duration(float64(span) * float64(i) / float64(max(n-1, 1))))
		xs = append(xs, tick{Pos: s.x(t), Label: t.UTC().Format(layout)})
	}
	for i := range yTicks {
		v := s.lo + (s.hi-s.lo)*float64(i)/float64(yTicks-1)
		ys = append(ys, tick{Pos: s.y(v), Label: num(v)})
	}
	return xs, ys
}

// round1 keeps one decimal: enough for a screen, and it keeps pages small.
func round1(v float64) float64 { return math.Round(v*10) / 10 }

func coord(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// num formats a value for people: four significant digits.
func num(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }
