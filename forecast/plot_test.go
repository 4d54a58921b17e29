package forecast

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestPlot(t *testing.T) {
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var h History
	for i := range 10 {
		h.Times = append(h.Times, start.Add(time.Duration(i)*time.Hour))
		h.Values = append(h.Values, float64(i))
	}
	fc := &Forecast{Origin: h.Times[9], Channels: 1, NumPaths: 10,
		Levels: []float64{0.05, 0.5, 0.95}}
	for k := range 3 {
		fc.Times = append(fc.Times, h.Times[9].Add(time.Duration(k+1)*time.Hour))
	}
	fc.Quantiles = [][]float64{{8, 7, 6}, {10, 11, 12}, {12, 15, 18}}

	var svg bytes.Buffer
	if err := Plot(&svg, fc, h, PlotOptions{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(svg.String(), "<svg") || !strings.Contains(svg.String(), "q0.05-q0.95") {
		t.Fatalf("SVG output lacks the chart or its legend: %.200s", svg.String())
	}
	var img bytes.Buffer
	if err := Plot(&img, fc, h, PlotOptions{Format: "png"}); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(img.Bytes(), []byte("\x89PNG\r\n\x1a\n")) || img.Len() < 1000 {
		t.Fatalf("PNG output: %d bytes, header %q", img.Len(), img.Bytes()[:min(8, img.Len())])
	}
	if err := Plot(&img, fc, h, PlotOptions{Channel: 1}); err == nil {
		t.Error("channel 1 of a one-channel forecast plotted")
	}
}
