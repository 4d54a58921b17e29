package forecast

import (
	"fmt"
	"image/color"
	"io"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// PlotOptions configures Plot.
type PlotOptions struct {
	// Channel is the channel drawn (default 0).
	Channel int
	// History is the number of observed steps drawn before the origin
	// (default three horizons).
	History int
	// Format is "svg" (default), "png" or "pdf".
	Format string
	// Width and Height of the image (default 20 cm by 9 cm).
	Width, Height vg.Length
}

// Plot draws a fan chart of f with gonum/plot and writes it to w: the
// observed values before the origin as a line, the band between the lowest
// and highest quantile levels, and the quantile nearest 0.5 as a dashed
// line. Times on the x axis are in UTC.
func Plot(w io.Writer, f *Forecast, h History, opt PlotOptions) error {
	if opt.Format == "" {
		opt.Format = "svg"
	}
	if opt.History == 0 {
		opt.History = 3 * len(f.Times)
	}
	if opt.Width == 0 {
		opt.Width, opt.Height = 20*vg.Centimeter, 9*vg.Centimeter
	}
	c, ch := f.Channels, opt.Channel
	if ch < 0 || ch >= c || len(f.Levels) == 0 || len(h.Times)*c != len(h.Values) {
		return fmt.Errorf("forecast: plot: channel %d of %d, %d levels", ch, c, len(f.Levels))
	}
	lo, hi, mid := 0, 0, 0
	for j, p := range f.Levels {
		if p < f.Levels[lo] {
			lo = j
		}
		if p > f.Levels[hi] {
			hi = j
		}
		if abs(p-0.5) < abs(f.Levels[mid]-0.5) {
			mid = j
		}
	}

	p := plot.New()
	p.Title.Text = fmt.Sprintf("forecast from %s, %d paths, %g-%g quantiles",
		f.Origin.UTC().Format(time.RFC3339), f.NumPaths, f.Levels[lo], f.Levels[hi])
	p.X.Tick.Marker = plot.TimeTicks{Format: "01-02\n15:04"}
	p.Y.Label.Text = fmt.Sprintf("channel %d", ch)

	band := make(plotter.XYs, 0, 2*len(f.Times))
	for k, t := range f.Times {
		band = append(band, plotter.XY{X: unix(t), Y: f.At(hi, k, ch)})
	}
	for k := len(f.Times) - 1; k >= 0; k-- {
		band = append(band, plotter.XY{X: unix(f.Times[k]), Y: f.At(lo, k, ch)})
	}
	poly, err := plotter.NewPolygon(band)
	if err != nil {
		return fmt.Errorf("forecast: plot: %w", err)
	}
	poly.Color = color.NRGBA{R: 242, G: 163, B: 58, A: 90}
	poly.LineStyle.Width = 0

	start := max(0, len(h.Times)-opt.History)
	past := make(plotter.XYs, 0, len(h.Times)-start)
	for i := start; i < len(h.Times); i++ {
		past = append(past, plotter.XY{X: unix(h.Times[i]), Y: h.Values[i*c+ch]})
	}
	med := make(plotter.XYs, 0, len(f.Times)+1)
	if len(past) > 0 {
		med = append(med, past[len(past)-1])
	}
	for k, t := range f.Times {
		med = append(med, plotter.XY{X: unix(t), Y: f.At(mid, k, ch)})
	}
	pastLine, err := plotter.NewLine(past)
	if err != nil {
		return fmt.Errorf("forecast: plot: %w", err)
	}
	pastLine.Color = color.NRGBA{R: 36, G: 88, B: 166, A: 255}
	medLine, err := plotter.NewLine(med)
	if err != nil {
		return fmt.Errorf("forecast: plot: %w", err)
	}
	medLine.Color = color.NRGBA{R: 195, G: 111, B: 0, A: 255}
	medLine.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}

	p.Add(plotter.NewGrid(), poly, pastLine, medLine)
	p.Legend.Add("observed", pastLine)
	p.Legend.Add(fmt.Sprintf("q%g", f.Levels[mid]), medLine)
	p.Legend.Add(fmt.Sprintf("q%g-q%g", f.Levels[lo], f.Levels[hi]), poly)
	p.Legend.Top = true

	wt, err := p.WriterTo(opt.Width, opt.Height, opt.Format)
	if err != nil {
		return fmt.Errorf("forecast: plot: %w", err)
	}
	if _, err := wt.WriteTo(w); err != nil {
		return fmt.Errorf("forecast: plot: %w", err)
	}
	return nil
}

func unix(t time.Time) float64 { return float64(t.Unix()) }

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}
