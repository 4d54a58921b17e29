package evaluate

import (
	"math"
	"testing"
)

func TestGammaSurprise(t *testing.T) {
	// Closed forms of -ln P(Gamma(k, 1) >= x): x for k = 1,
	// x - ln(1 + x) for k = 2, x - ln(1 + x + x^2/2) for k = 3.
	for _, x := range []float64{0.5, 3, 40, 700} {
		for k, want := range []float64{x, x - math.Log1p(x), x - math.Log(1+x+x*x/2)} {
			if got := gammaSurprise(k+1, x); math.Abs(got-want) > 1e-9*max(1, want) {
				t.Errorf("gammaSurprise(%d, %v) = %v, want %v", k+1, x, got, want)
			}
		}
	}
}

func TestPolicyIncidents(t *testing.T) {
	p := NewPolicy(PolicyConfig{Alpha: 1e-6, Quiet: 10, Damp: 0.1, Run: -1, Scale: 20})
	flag := -math.Log(1e-6) + 1 // a surprise beyond the flag level
	var alarms []int
	for i := range 45 {
		u := 0.5
		if i == 3 || i == 5 || i == 30 {
			u = flag
		}
		d := p.Next(u)
		if d.Alarm {
			alarms = append(alarms, i)
		}
		want := u / (u + 20)
		if (i > 3 && i <= 15) || (i > 30 && i <= 40) {
			// Inside an incident: the one opened at 3 and extended by the
			// flag at 5 closes after 10 quiet points, at 15.
			want *= 0.1
		}
		if math.Abs(d.Score-want) > 1e-12 {
			t.Errorf("point %d: score %v, want %v", i, d.Score, want)
		}
		if d.Flagged != (u == flag) {
			t.Errorf("point %d: flagged %v", i, d.Flagged)
		}
	}
	if len(alarms) != 2 || alarms[0] != 3 || alarms[1] != 30 {
		t.Errorf("alarms at %v, want [3 30]: the flag at 5 joins the first", alarms)
	}
}

func TestPolicyRun(t *testing.T) {
	// Eight points at p = 0.01 each: none is flagged at alpha 1e-6 alone,
	// but together they are a run with Fisher surprise
	// -ln P(Gamma(8) >= 8 ln 100), about 17.6 nats, minus ln 2.
	p := NewPolicy(PolicyConfig{Alpha: 1e-6, Run: 8})
	u := math.Log(100)
	var d Decision
	for range 8 {
		d = p.Next(u)
	}
	want := gammaSurprise(8, 8*u) - math.Ln2
	if !d.Flagged || math.Abs(d.Surprise-want) > 1e-12 || want < 14 {
		t.Errorf("run surprise %v flagged %v, want %v flagged", d.Surprise, d.Flagged, want)
	}
}
