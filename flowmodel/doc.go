// Package flowmodel implements normalizing flows for windows of time series:
// masked autoregressive conditioners (MADE), the affine and spline
// autoregressive layers built on them, exact per-step conditional log-densities for stacks
// that keep one time order, conditional sampling, maximum-likelihood training
// and a versioned model file.
//
// The package depends on gonum (tests only) and the standard library. It
// knows nothing of Kafka, PostgreSQL, HTTP or the service around it, and it
// never logs.
//
// # Windows and specs
//
// A window is W steps of C channels flattened time-major: value (t, j) sits
// at index t*C + j, so a batch of n windows is a []float64 of n*W*C values.
// An optional context (calendar features, seasonal lags) gives Spec.Context
// values per window. A Spec declares the flow; New builds it from a spec and
// a seed:
//
//	f, err := flowmodel.New(flowmodel.Spec{Window: 32, Context: 4}, seed)
//
// Zero spec fields take defaults (time-ordered stack, 5 affine layers, MADEs
// with two hidden layers of 64 ReLU units, log-scale clamp 3).
//
// # The model
//
// The density direction maps x to z = f_K(...f_1(x; c)...; c) with a
// standard normal base (conventions of ../shared/flow-math.md section 0):
//
//	log p(x | c) = sum_i [ log phi(z_i) + sum_k l_k,i ]
//
// Each layer is an element-wise monotone map of coordinate i whose
// parameters come from a MADE (Germain et al., arXiv:1502.03509) reading only
// the coordinates before i and the context. Spec.LayerType picks the map:
//
//   - LayerAffine, the MAF transform of Papamakarios et al.
//     (arXiv:1705.07057):
//
//     z_i = (x_i - mu_i) exp(-alpha_i),  alpha_i = kappa tanh(a_i / kappa),
//     l_k,i = -alpha_i,  inverse  x_i = mu_i + z_i exp(alpha_i);
//
//   - LayerSpline, the monotone rational-quadratic spline of Durkan et al.
//     (Neural Spline Flows, arXiv:1906.04032) with Bins bins on
//     [-TailBound, TailBound] and the identity outside; its inverse solves
//     one quadratic in its stable form (flow-math section 7).
//
// Spec.ActNorm adds Glow's ActNorm before every layer (a per-coordinate
// affine map, set from the first training windows; the file records that it
// was). Spec.ChannelMixing adds, after it, an LU-parameterised C x C map of
// the channels of every step (Glow's 1x1 convolution); being the same map at
// every step, it keeps per-step terms and conditional sampling exact, though
// a step's split into channel terms then means nothing. Spec.WindowMixing
// uses one such map over the whole window instead, for KindMAF and
// KindRealNVP stacks. Spec.Permutation chooses reversal or fixed random
// orders between the layers of a KindMAF stack.
//
// Spec.LinearBase puts a linear autoregressive layer under everything else:
// each value minus a linear prediction from the values before it and the
// context, over a residual scale. FitLinearBase (or Train, once, before its
// first step) sets it in closed form by ridge regression and Train never
// changes it; New starts the layers above it at the identity, so the
// untrained flow is exactly the linear-Gaussian autoregression and, with
// Train keeping the best validation weights, training can only improve on it
// where the validation data agree. It suits short training sets, on which a
// free flow overfits or models near-deterministic series badly.
//
// The context enters every MADE with degree 0 (Paige and Wood,
// arXiv:1602.06701), so it reaches every output, the first one included.
// Spec.ResidualBlocks selects residual MADEs (Nash and Durkan,
// arXiv:1904.05626).
//
// Three stacks exist. KindTimeOrdered keeps the window's time order in every
// layer, so the Jacobian is triangular in that order and the per-coordinate
// terms above are exact conditionals: StepLogProb returns
// log p(x_t | x_<t, c) for every step t (the last column is the online
// score of the newest step) and SampleSuffix samples the last h steps given
// the first W-h exactly. KindMAF reverses the order between layers, the
// classic MAF, and KindRealNVP alternates couplings (Dinh et al.,
// arXiv:1605.08803; parity masks or Spec.CouplingMask), built as MADEs with
// two degree levels. Both score and
// sample whole windows; their StepLogProb and conditional sampling return
// ErrNotTimeOrdered rather than a number that means nothing. An affine
// time-ordered stack has Gaussian conditionals (flow-math section 9.4);
// spline layers give skewed, heavy-shouldered or multi-modal ones in the
// same order.
//
// # Training and model files
//
// Train fits a flow by maximum likelihood with Adam (optionally AdamW decay),
// gradient-norm clipping, early stopping on a validation set, cancellation
// through a context and a progress callback; steps with a non-finite loss or
// gradient are skipped and counted. One flow seed and one TrainOptions.Seed
// give a bit-identical result.
//
// Flow.Save and Load write and read a versioned binary file: a header
// (magic, FileVersion, payload length, CRC-32C), the spec as JSON, an opaque
// metadata blob the caller owns (normalisation, calibration scores, training
// range), the weights and the ActNorm and linear-base flags. Load tells a foreign file, a
// truncated one, a damaged one, a newer version and inconsistent content
// apart with ErrNotModel, ErrTruncated, ErrChecksum, ErrVersion and
// ErrCorrupt.
//
// # Errors and panics
//
// A slice of the wrong width (a window that is not W*C values, a context of
// the wrong size, a destination of the wrong length) is a bug in the caller
// and panics with ErrShape. Data-dependent failures are returned: a
// non-finite log-density wraps ErrNonFinite and names the window.
//
// # Concurrency and allocation
//
// A Flow keeps scoring and sampling workspaces, so one Flow must be used by
// one goroutine at a time. Flow.Clone returns an independent deep copy (one
// copy of the weights, about 0.4 MB at the default size) for another
// goroutine, for instance to forecast while the owner scores. Train changes
// the weights in place and must not overlap any other use of the same Flow.
// After their first call LogProb and StepLogProb allocate nothing when given
// a destination; they work in chunks of 64 windows, so their memory does not
// grow with the batch.
//
// # Speed
//
// MADE masks with sorted degrees leave each weight row one contiguous range
// of inputs; the weights are stored packed in panels of eight outputs over
// the union of their ranges, so the kernels skip the masked half of every
// matrix. The products run through one 4x8 tile kernel, in AVX2/FMA assembly
// on amd64 CPUs that have it (see KernelName) and in plain Go otherwise or
// under the purego build tag. Either way a window's score does not depend on
// its position in a batch.
package flowmodel
