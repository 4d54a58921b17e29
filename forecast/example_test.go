package forecast_test

import (
	"fmt"

	"github.com/flowguard/flowguard/forecast"
)

// Scoring a forecast given as samples against what happened.
func ExampleCRPS() {
	samples := []float64{8, 9, 10, 11, 12} // sorted
	fmt.Printf("median %.1f, 90%% interval [%.1f, %.1f]\n",
		forecast.Quantile(samples, 0.5), forecast.Quantile(samples, 0.05),
		forecast.Quantile(samples, 0.95))
	fmt.Printf("CRPS at 10: %.2f, at 14: %.2f\n", forecast.CRPS(samples, 10),
		forecast.CRPS(samples, 14))
	fmt.Println("14 covered:", forecast.Covered(samples, 0.9, 14))
	// Output:
	// median 10.0, 90% interval [8.2, 11.8]
	// CRPS at 10: 0.40, at 14: 3.20
	// 14 covered: false
}
