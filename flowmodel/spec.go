package flowmodel

import (
	"fmt"
	"strings"
)

// Stack kinds accepted in Spec.Kind.
const (
	// KindTimeOrdered stacks layers that all keep the time order of the
	// window, so the log-density splits exactly into per-step conditionals.
	KindTimeOrdered = "time-ordered"
	// KindMAF is the classic masked autoregressive flow of Papamakarios et al.
	// (arXiv:1705.07057): every other layer reverses the order (or each layer
	// takes a fixed random order, Spec.Permutation). It gives LogProb and
	// whole-window samples but no per-step terms and no conditional sampling.
	KindMAF = "maf"
	// KindRealNVP stacks affine (or spline) coupling layers (Dinh et al.,
	// RealNVP, arXiv:1605.08803) with alternating parity masks: each layer
	// transforms the odd or the even coordinates given the others (and the
	// context), and gives the pass-through coordinates a learned element-wise
	// affine map of the context. No per-step terms, no conditional sampling.
	// Spec.CouplingMask replaces the parity masks.
	KindRealNVP = "realnvp"
)

// Layer types accepted in Spec.LayerType.
const (
	// LayerAffine is the affine autoregressive (MAF) layer with a soft-clamped
	// log-scale.
	LayerAffine = "affine"
	// LayerSpline is the monotone rational-quadratic spline autoregressive
	// layer of Durkan et al. (arXiv:1906.04032), identity outside
	// [-TailBound, TailBound]: non-Gaussian conditionals in one time order.
	LayerSpline = "spline"
)

// Activations accepted in Spec.Activation.
const (
	// ActReLU is max(a, 0), the default.
	ActReLU = "relu"
	// ActTanh is tanh(a); smooth, which keeps finite-difference checks clean.
	ActTanh = "tanh"
)

// Defaults filled in by Spec.WithDefaults for zero fields.
const (
	DefaultHidden       = 64
	DefaultLayers       = 5
	DefaultHiddenLayers = 2
	DefaultClamp        = 3.0
	DefaultBins         = 8
	DefaultTailBound    = 5.0
)

// Spec declares a flow. It is plain data with JSON tags so that a service can
// read it from its configuration, and it is stored inside the model file so
// that a loaded model rebuilds exactly the network it was trained as.
//
// A window is W steps of C channels, flattened time-major: value (t, j) is at
// index t*C + j. Within a step the channels are modelled in their index
// order, so channel j of step t is conditioned on every channel of earlier
// steps and on channels 0..j-1 of step t.
type Spec struct {
	// Kind is KindTimeOrdered (default) or KindMAF.
	Kind string `json:"kind"`
	// Window is W, the number of time steps in a window (>= 1).
	Window int `json:"window"`
	// Channels is C, the number of values per step (default 1).
	Channels int `json:"channels"`
	// Context is the width of the optional conditioning vector given with
	// every window (calendar features, seasonal lags); 0 means none.
	Context int `json:"context"`
	// Hidden is the width of every MADE hidden layer (default 64). It must be
	// at least W*C (W*C-1 without context) so that every degree is present.
	Hidden int `json:"hidden"`
	// Layers is the number of flow layers (default 5).
	Layers int `json:"layers"`
	// HiddenLayers is the number of masked hidden layers of each MADE when
	// ResidualBlocks is 0 (default 2).
	HiddenLayers int `json:"hidden_layers"`
	// ResidualBlocks, when positive, makes each MADE a residual MADE (Nash and
	// Durkan, arXiv:1904.05626): a masked input layer, this many residual
	// blocks of two masked layers, and the masked output layer. HiddenLayers
	// is then ignored.
	ResidualBlocks int `json:"residual_blocks"`
	// LayerType is the transform of each layer (default LayerAffine).
	LayerType string `json:"layer_type"`
	// Activation of the MADE hidden units (default ActReLU).
	Activation string `json:"activation"`
	// Clamp is kappa of the log-scale soft clamp alpha = kappa*tanh(a/kappa)
	// (default 3): one layer scales a value by at most e^kappa.
	Clamp float64 `json:"clamp"`
	// Bins is the number of spline bins K (LayerSpline only, default 8).
	Bins int `json:"bins,omitempty"`
	// TailBound is B: the spline acts on [-B, B] and is the identity outside
	// (LayerSpline only, default 5, for standardised data).
	TailBound float64 `json:"tail_bound,omitempty"`
	// Permutation is how a KindMAF stack changes the order between layers:
	// PermReverse (default) or PermRandom, a fixed random permutation per
	// layer drawn from PermutationSeed, so the spec alone rebuilds it.
	Permutation     string `json:"permutation,omitempty"`
	PermutationSeed uint64 `json:"permutation_seed,omitempty"`
	// CouplingMask, for KindRealNVP, is a string of W*C '0' and '1': the
	// coordinates marked '1' are transformed (given those marked '0') in
	// even layers, the others in odd layers. Empty means alternating parity.
	CouplingMask string `json:"coupling_mask,omitempty"`
	// ActNorm puts an ActNorm layer (Glow) before every flow layer, set from
	// the first training windows by Train (over a linear base they start at
	// the identity instead, like the layers).
	ActNorm bool `json:"actnorm,omitempty"`
	// ChannelMixing puts an LU-parameterised C x C linear map of the
	// channels of every step (Glow's 1x1 convolution) before every flow
	// layer, after the ActNorm. It needs Channels >= 2 and keeps per-step
	// terms exact.
	ChannelMixing bool `json:"channel_mixing,omitempty"`
	// WindowMixing puts an LU-parameterised W*C x W*C linear map of the
	// whole window (Glow's 1x1 convolution for vectors) before every flow
	// layer instead. It mixes later values into earlier ones, so it is for
	// KindMAF and KindRealNVP stacks only.
	WindowMixing bool `json:"window_mixing,omitempty"`
	// LinearBase applies a linear autoregressive layer to the data before
	// everything else: each value minus a linear prediction from the values
	// before it (in the stack's time order) and the context, divided by a
	// residual scale. It is fitted in closed form by ridge regression
	// (FitLinearBase, or Train before its first step) and frozen, and New
	// starts the layers above it at the identity, so an untrained flow is
	// the linear-Gaussian autoregression and training adds only what the
	// validation data supports.
	LinearBase bool `json:"linear_base,omitempty"`
}

// Orders between the layers of a KindMAF stack, for Spec.Permutation.
const (
	PermReverse = "reverse"
	PermRandom  = "random"
)

// Dim returns W*C, the number of values in one window.
func (s Spec) Dim() int { return s.Window * s.Channels }

// WithDefaults returns s with every zero field set to its default.
func (s Spec) WithDefaults() Spec {
	if s.Kind == "" {
		s.Kind = KindTimeOrdered
	}
	if s.Channels == 0 {
		s.Channels = 1
	}
	if s.Hidden == 0 {
		s.Hidden = DefaultHidden
	}
	if s.Layers == 0 {
		s.Layers = DefaultLayers
	}
	if s.HiddenLayers == 0 {
		s.HiddenLayers = DefaultHiddenLayers
	}
	if s.LayerType == "" {
		s.LayerType = LayerAffine
	}
	if s.Activation == "" {
		s.Activation = ActReLU
	}
	if s.Clamp == 0 {
		s.Clamp = DefaultClamp
	}
	if s.Kind == KindMAF && s.Permutation == "" {
		s.Permutation = PermReverse
	}
	if s.LayerType == LayerSpline {
		if s.Bins == 0 {
			s.Bins = DefaultBins
		}
		if s.TailBound == 0 {
			s.TailBound = DefaultTailBound
		}
	}
	return s
}

// maxDim bounds W*C and the hidden width so that a corrupt or hostile spec
// cannot ask for gigabytes of weights.
const maxDim = 1 << 12

// Validate reports whether s (after WithDefaults) describes a flow this
// package can build.
func (s Spec) Validate() error {
	switch {
	case s.Kind != KindTimeOrdered && s.Kind != KindMAF && s.Kind != KindRealNVP:
		return fmt.Errorf("flowmodel: unknown stack kind %q", s.Kind)
	case s.LayerType != LayerAffine && s.LayerType != LayerSpline:
		return fmt.Errorf("flowmodel: unknown layer type %q", s.LayerType)
	case s.LayerType == LayerAffine && (s.Bins != 0 || s.TailBound != 0):
		return fmt.Errorf("flowmodel: bins and tail bound apply to spline layers only")
	case s.LayerType == LayerSpline && (s.Bins < 2 || s.Bins > maxBins):
		return fmt.Errorf("flowmodel: %d spline bins out of range [2, %d]", s.Bins, maxBins)
	case s.LayerType == LayerSpline && !(s.TailBound > 0 && s.TailBound <= 1000):
		return fmt.Errorf("flowmodel: spline tail bound %v out of range (0, 1000]", s.TailBound)
	case s.Activation != ActReLU && s.Activation != ActTanh:
		return fmt.Errorf("flowmodel: unknown activation %q", s.Activation)
	case s.Window < 1 || s.Channels < 1 || s.Dim() > maxDim:
		return fmt.Errorf("flowmodel: window %d x %d channels out of range", s.Window, s.Channels)
	case s.Dim() < 2 && s.Context == 0:
		return fmt.Errorf("flowmodel: a 1-value window needs a context to condition on")
	case s.Kind == KindMAF && s.Permutation != PermReverse && s.Permutation != PermRandom:
		return fmt.Errorf("flowmodel: unknown permutation %q", s.Permutation)
	case s.Kind != KindMAF && (s.Permutation != "" || s.PermutationSeed != 0):
		return fmt.Errorf("flowmodel: permutations apply to %q stacks only", KindMAF)
	case s.CouplingMask != "" && s.Kind != KindRealNVP:
		return fmt.Errorf("flowmodel: a coupling mask applies to %q stacks only", KindRealNVP)
	case s.CouplingMask != "" && !validMask(s.CouplingMask, s.Dim()):
		return fmt.Errorf("flowmodel: coupling mask %q must be %d of '0' and '1', both present",
			s.CouplingMask, s.Dim())
	case s.WindowMixing && (s.Kind == KindTimeOrdered || s.ChannelMixing):
		return fmt.Errorf("flowmodel: window mixing breaks the time order and excludes " +
			"channel mixing")
	case s.ChannelMixing && s.Channels < 2:
		return fmt.Errorf("flowmodel: channel mixing needs at least 2 channels")
	case s.Dim() < 2 && s.Kind == KindRealNVP:
		return fmt.Errorf("flowmodel: a coupling stack needs at least 2 values per window")
	case s.Context < 0 || s.Context > maxDim:
		return fmt.Errorf("flowmodel: context width %d out of range", s.Context)
	case s.Hidden < s.minHidden() || s.Hidden > maxDim:
		return fmt.Errorf("flowmodel: hidden width %d must be in [%d, %d]",
			s.Hidden, s.minHidden(), maxDim)
	case s.Layers < 1 || s.Layers > 64:
		return fmt.Errorf("flowmodel: %d layers out of range [1, 64]", s.Layers)
	case s.HiddenLayers < 1 || s.HiddenLayers > 16:
		return fmt.Errorf("flowmodel: %d hidden layers out of range [1, 16]", s.HiddenLayers)
	case s.ResidualBlocks < 0 || s.ResidualBlocks > 16:
		return fmt.Errorf("flowmodel: %d residual blocks out of range [0, 16]", s.ResidualBlocks)
	case s.denseSize() > maxDense:
		return fmt.Errorf("flowmodel: network of %d dense weights exceeds %d", s.denseSize(),
			maxDense)
	case !(s.Clamp > 0 && s.Clamp <= 20):
		return fmt.Errorf("flowmodel: clamp %v out of range (0, 20]", s.Clamp)
	}
	return nil
}

// maxDense bounds the dense weight count of a spec (256 MiB of float64), so
// that a model file cannot make Load allocate without limit.
const maxDense = 1 << 25

// denseSize is the number of weights the spec's MADEs would have without
// masks, an upper bound of what build allocates per weight.
func (s Spec) denseSize() int {
	d, h := s.Dim(), s.Hidden
	mid := s.HiddenLayers - 1
	if s.ResidualBlocks > 0 {
		mid = 2 * s.ResidualBlocks
	}
	per := d*h + mid*h*h + h*s.paramsPerValue()*d + h*s.Context + d*d
	n := s.Layers * per
	if s.LinearBase {
		n += d*d + d*s.Context
	}
	return n
}

// minHidden is the number of distinct hidden degrees: 1..g-1, or 0..g-1
// with a context (degree-0 units read only the context), where g is the
// largest input degree: D for autoregressive layers, 2 for couplings.
func (s Spec) minHidden() int {
	g := s.Dim()
	if s.Kind == KindRealNVP {
		g = 2
	}
	if s.Context > 0 {
		return g
	}
	return g - 1
}

// paramsPerValue is the number of conditioner outputs per window value.
func (s Spec) paramsPerValue() int {
	if s.LayerType == LayerSpline {
		return 3*s.Bins - 1
	}
	return 2
}

// TimeOrdered reports whether every layer keeps the window's time order, so
// that StepLogProb and conditional sampling are exact.
func (s Spec) TimeOrdered() bool { return s.Kind == KindTimeOrdered }

// DefaultSpec returns the stack the detector uses unless configured
// otherwise: time-ordered rational-quadratic spline layers (8 bins on
// [-5, 5], for standardised data), 4 layers, MADEs with two hidden layers of
// 64 ReLU units, widened to the window size when W*C needs more degrees.
func DefaultSpec(window, channels, context int) Spec {
	s := Spec{
		Kind: KindTimeOrdered, Window: window, Channels: channels, Context: context,
		Hidden: DefaultHidden, Layers: 4, LayerType: LayerSpline,
	}.WithDefaults()
	if need := s.minHidden(); s.Hidden < need {
		s.Hidden = (need + panelWidth - 1) / panelWidth * panelWidth
	}
	return s
}

func validMask(m string, d int) bool {
	return len(m) == d && strings.Trim(m, "01") == "" && strings.Contains(m, "0") &&
		strings.Contains(m, "1")
}
