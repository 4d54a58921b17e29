package timeseries_test

import (
	"fmt"
	"time"

	"github.com/flowguard/flowguard/timeseries"
)

// A detector decodes a message, pushes its samples and scores every step
// the push completed, skipping filled ones.
func Example() {
	dec := timeseries.NewJSONDecoder(timeseries.JSONConfig{})
	part, err := timeseries.NewPartition(timeseries.Config{
		Step: time.Minute, Window: 3, MaxFill: 1, Fill: timeseries.FillLinear,
	})
	if err != nil {
		panic(err)
	}
	payload := []byte(`[
	{"name":"cpu","labels":{"host":"a"},"timestamp":"2026-03-02T00:00:10Z","value":1},
	{"name":"cpu","labels":{"host":"a"},"timestamp":"2026-03-02T00:01:10Z","value":2},
	{"name":"cpu","labels":{"host":"a"},"timestamp":"2026-03-02T00:03:10Z","value":4},
	{"name":"cpu","labels":{"host":"a"},"timestamp":"2026-03-02T00:04:10Z","value":"x"},
	{"name":"cpu","labels":{"host":"a"},"timestamp":"2026-03-02T00:04:20Z","value":5}]`)
	samples, err := dec.Decode(payload)
	for _, e := range timeseries.DecodeErrors(err) {
		fmt.Println("dead letter:", e.Kind, e.Field, "line", e.Line)
	}
	window := make([]float64, 3)
	for i := range samples {
		s, res := part.Push(&samples[i])
		for ago := res.Emitted - 1; ago >= 0; ago-- {
			st := s.Step(ago)
			if st.Filled || !s.WindowAt(window, ago) {
				fmt.Println(st.Time.Format("15:04"), st.Values, "filled:", st.Filled)
				continue
			}
			fmt.Println(st.Time.Format("15:04"), st.Values, "score window", window)
		}
	}
	st := part.Stats()
	fmt.Println("accepted", st.Accepted, "steps", st.Steps, "filled", st.GapFilled)
	// Output:
	// dead letter: wrong_type value line 5
	// 00:00 [1] filled: false
	// 00:01 [2] filled: false
	// 00:02 [3] filled: true
	// 00:03 [4] score window [2 3 4]
	// accepted 4 steps 3 filled 1
}
