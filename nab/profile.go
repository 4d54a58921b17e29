package nab

import "math"

// Profile is one NAB cost profile: the weight of a true positive (a hit
// window), of a false-positive row and of a missed window.
type Profile struct {
	// Name is NAB's name of the profile, as used in threshold files.
	Name string
	// Short is the key of the profile in the one-line summary.
	Short string
	// TP, FP and FN are NAB's A_TP, A_FP and A_FN, all positive.
	TP, FP, FN float64
}

// The three NAB profiles (NAB.md, "Weights").
var (
	Standard = Profile{Name: "standard", Short: "standard",
		TP: 1, FP: 0.11, FN: 1}
	RewardLowFP = Profile{Name: "reward_low_FP_rate", Short: "reward_low_FP",
		TP: 1, FP: 0.22, FN: 1}
	RewardLowFN = Profile{Name: "reward_low_FN_rate", Short: "reward_low_FN",
		TP: 1, FP: 0.11, FN: 2}
)

// Profiles returns the three NAB profiles in their usual order: standard,
// reward_low_FP_rate, reward_low_FN_rate.
func Profiles() []Profile {
	return []Profile{Standard, RewardLowFP, RewardLowFN}
}

// ProfileByName returns the profile called name and whether there is one.
func ProfileByName(name string) (Profile, bool) {
	for _, p := range Profiles() {
		if p.Name == name {
			return p, true
		}
	}
	return Profile{}, false
}

// scaledSigmoid is NAB's position weight
//
//	f(y) = 2 sigma(-5y) - 1 = 2 / (1 + exp(5y)) - 1,  f(y) = -1 for y > 3,
//
// computed in the same order of operations as NAB's scorer.
func scaledSigmoid(y float64) float64 {
	if y > 3 {
		return -1
	}
	return 2/(1+math.Exp(5*y)) - 1
}

// maxTP is f(-1), the weight of a detection on a window's first row, by
// which NAB divides every in-window weight so that this row is worth A_TP.
var maxTP = scaledSigmoid(-1)

// windowWeight is the unit weight (A_TP = 1) of a detection at row i of a
// window of rows [lo, hi]: f(-(hi-i+1)/W) / f(-1) with W = hi-lo+1.
func windowWeight(i, lo, hi int) float64 {
	width := float64(hi - lo + 1)
	return scaledSigmoid(-float64(hi-i+1)/width) / maxTP
}

// afterWeight is the unit weight (A_FP = 1, so in [-1, 0)) of a detection
// at row i after a window of rows [lo, hi]: f((i-hi)/(W-1)). A window of
// one row gives y = +Inf and so the full -1, as NAB's division does.
func afterWeight(i, lo, hi int) float64 {
	width := float64(hi - lo + 1)
	return scaledSigmoid(float64(i-hi) / (width - 1))
}

// beforeWeight is the unit weight of a detection before a file's first
// window, or anywhere in a file without windows.
const beforeWeight = -1.0
