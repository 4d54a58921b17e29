package flowmodel

import "errors"

// ErrShape is the panic value of every method that receives a slice whose
// length does not match the flow's spec (a window that is not W*C values, a
// context row of the wrong width, a destination of the wrong size). A wrong
// width is a bug in the caller, not a property of the data, so it panics
// instead of returning an error, as gonum's mat does.
var ErrShape = errors.New("flowmodel: dimension mismatch")

// ErrNonFinite is returned (wrapped) by the scoring methods when a
// log-density is NaN or infinite, and by Train when it cannot evaluate a
// finite validation loss. The destination is still filled; the offending
// entries hold the non-finite values.
var ErrNonFinite = errors.New("flowmodel: non-finite log-density")

// ErrNotTimeOrdered is returned by StepLogProb and by conditional sampling
// for stacks whose layers do not all keep one ordering (the classic MAF with
// order reversal): their per-coordinate terms still sum to the log-density
// but are not conditional log-densities, so no per-step number is given.
var ErrNotTimeOrdered = errors.New("flowmodel: stack does not keep one time order")

// Errors returned by Load. Each names one way a model file can be bad, so a
// caller can tell a wrong file from a damaged one from one written by a newer
// release.
var (
	// ErrNotModel means the file does not start with the model-file magic.
	ErrNotModel = errors.New("flowmodel: not a model file")
	// ErrTruncated means the file ends before its declared length.
	ErrTruncated = errors.New("flowmodel: model file truncated")
	// ErrChecksum means the payload does not match its CRC-32C checksum.
	ErrChecksum = errors.New("flowmodel: model file checksum mismatch")
	// ErrVersion means the file was written in a newer format version than
	// this package reads.
	ErrVersion = errors.New("flowmodel: model file version not supported")
	// ErrCorrupt means the checksum matched but the content is inconsistent
	// (bad spec, wrong weight count, non-finite weights).
	ErrCorrupt = errors.New("flowmodel: model file corrupt")
)

func panicShape() { panic(ErrShape) }
