package flowmodel

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
)

// Model file layout, all integers little-endian:
//
//	header  magic "FLOWGMDL" (8 bytes), format version uint32,
//	        payload length uint64, CRC-32C of the payload uint32
//	payload spec JSON length uint32, spec JSON,
//	        metadata length uint32, metadata,
//	        parameter count uint64, parameters as IEEE-754 float64,
//	        flags uint32 (bit 0: the ActNorm layers were set from data,
//	        bit 1: the linear base was fitted)
//
// The version is read before anything else after the magic, so a later
// format may change everything that follows it. Version 2 added the linear
// base (Spec.LinearBase, whose parameters lead the vector, and flag bit 1);
// Save writes version 1 for a flow without one, byte for byte as before, so
// older builds still read every file they can understand and report
// ErrVersion for the others.
const (
	fileMagic = "FLOWGMDL"
	// FileVersion is the model-file format version Save writes; Load reads
	// this version and older ones.
	FileVersion = 2
	headerSize  = 8 + 4 + 8 + 4
	// maxPayload bounds what Load reads, so a corrupt length cannot make
	// it allocate without limit.
	maxPayload = 1 << 30
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Flag bits: flagActNormInit marks a model whose ActNorm layers were set
// from data, flagLinearFit one whose linear base was fitted.
const (
	flagActNormInit = 1 << iota
	flagLinearFit
)

// linearBaseVersion is the first file version with the linear base.
const linearBaseVersion = 2

// Save writes f and meta (an opaque blob the caller owns, such as JSON with
// normalisation statistics, calibration scores and the training range) to w
// in the versioned model-file format. Load returns both unchanged.
func (f *Flow) Save(w io.Writer, meta []byte) error {
	spec, err := json.Marshal(f.spec)
	if err != nil {
		return fmt.Errorf("flowmodel: save: encode spec: %w", err)
	}
	if len(meta) > maxPayload/2 {
		return fmt.Errorf("flowmodel: save: metadata of %d bytes too large", len(meta))
	}
	var p bytes.Buffer
	p.Grow(4 + len(spec) + 4 + len(meta) + 8 + 8*len(f.theta) + 4)
	p.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(spec))))
	p.Write(spec)
	p.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(meta))))
	p.Write(meta)
	p.Write(binary.LittleEndian.AppendUint64(nil, uint64(len(f.theta))))
	var b [8]byte
	for _, v := range f.theta {
		binary.LittleEndian.PutUint64(b[:], math.Float64bits(v))
		p.Write(b[:])
	}
	var flags uint32
	if f.anInit {
		flags |= flagActNormInit
	}
	version := uint32(1)
	if f.lin != nil {
		version = linearBaseVersion
		if f.linFit {
			flags |= flagLinearFit
		}
	}
	p.Write(binary.LittleEndian.AppendUint32(nil, flags))
	h := make([]byte, 0, headerSize)
	h = append(h, fileMagic...)
	h = binary.LittleEndian.AppendUint32(h, version)
	h = binary.LittleEndian.AppendUint64(h, uint64(p.Len()))
	h = binary.LittleEndian.AppendUint32(h, crc32.Checksum(p.Bytes(), castagnoli))
	if _, err := w.Write(h); err != nil {
		return fmt.Errorf("flowmodel: save: %w", err)
	}
	if _, err := w.Write(p.Bytes()); err != nil {
		return fmt.Errorf("flowmodel: save: %w", err)
	}
	return nil
}

// Load reads a model file written by Save and returns the flow and its
// metadata. A bad file gives an error wrapping exactly one of ErrNotModel,
// ErrTruncated, ErrVersion, ErrChecksum or ErrCorrupt; a failing reader's
// own error is returned wrapped otherwise.
func Load(r io.Reader) (*Flow, []byte, error) {
	var h [headerSize]byte
	if _, err := io.ReadFull(r, h[:12]); err != nil {
		return nil, nil, readErr("header", err)
	}
	if string(h[:8]) != fileMagic {
		return nil, nil, ErrNotModel
	}
	version := binary.LittleEndian.Uint32(h[8:12])
	if version > FileVersion {
		return nil, nil, fmt.Errorf("%w: file version %d, this build reads up to %d",
			ErrVersion, version, FileVersion)
	}
	if version == 0 {
		return nil, nil, fmt.Errorf("%w: version 0", ErrCorrupt)
	}
	if _, err := io.ReadFull(r, h[12:]); err != nil {
		return nil, nil, readErr("header", err)
	}
	size := binary.LittleEndian.Uint64(h[12:20])
	sum := binary.LittleEndian.Uint32(h[20:24])
	if size > maxPayload {
		return nil, nil, fmt.Errorf("%w: payload length %d", ErrCorrupt, size)
	}
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(r, int64(size)))
	if err != nil {
		return nil, nil, fmt.Errorf("flowmodel: load: %w", err)
	}
	if uint64(n) < size {
		return nil, nil, fmt.Errorf("%w: payload has %d of %d bytes", ErrTruncated, n, size)
	}
	p := buf.Bytes()
	if crc32.Checksum(p, castagnoli) != sum {
		return nil, nil, ErrChecksum
	}
	return decodePayload(p, version)
}

func readErr(what string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: short %s", ErrTruncated, what)
	}
	return fmt.Errorf("flowmodel: load: %w", err)
}

// decodePayload parses a payload whose checksum matched.
func decodePayload(p []byte, version uint32) (*Flow, []byte, error) {
	next := func(n uint64) ([]byte, bool) {
		if uint64(len(p)) < n {
			return nil, false
		}
		b := p[:n]
		p = p[n:]
		return b, true
	}
	b, ok := next(4)
	if !ok {
		return nil, nil, fmt.Errorf("%w: no spec", ErrCorrupt)
	}
	specJSON, ok := next(uint64(binary.LittleEndian.Uint32(b)))
	if !ok {
		return nil, nil, fmt.Errorf("%w: spec overruns payload", ErrCorrupt)
	}
	var spec Spec
	dec := json.NewDecoder(bytes.NewReader(specJSON))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		return nil, nil, fmt.Errorf("%w: spec: %v", ErrCorrupt, err)
	}
	if spec.WithDefaults() != spec {
		return nil, nil, fmt.Errorf("%w: spec has unset fields", ErrCorrupt)
	}
	if spec.LinearBase && version < linearBaseVersion {
		return nil, nil, fmt.Errorf("%w: linear base in a version %d file", ErrCorrupt, version)
	}
	if b, ok = next(4); !ok {
		return nil, nil, fmt.Errorf("%w: no metadata length", ErrCorrupt)
	}
	meta, ok := next(uint64(binary.LittleEndian.Uint32(b)))
	if !ok {
		return nil, nil, fmt.Errorf("%w: metadata overruns payload", ErrCorrupt)
	}
	if b, ok = next(8); !ok {
		return nil, nil, fmt.Errorf("%w: no parameter count", ErrCorrupt)
	}
	count := binary.LittleEndian.Uint64(b)
	if len(p) < 4 || count != uint64(len(p)-4)/8 || (len(p)-4)%8 != 0 {
		return nil, nil, fmt.Errorf("%w: %d parameters in %d bytes", ErrCorrupt, count, len(p))
	}
	flags := binary.LittleEndian.Uint32(p[len(p)-4:])
	if flags&^(flagActNormInit|flagLinearFit) != 0 ||
		(flags&flagActNormInit != 0 && !spec.ActNorm) ||
		(flags&flagLinearFit != 0 && !spec.LinearBase) {
		return nil, nil, fmt.Errorf("%w: flags %#x", ErrCorrupt, flags)
	}
	f, err := build(spec)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if uint64(len(f.theta)) != count {
		return nil, nil, fmt.Errorf("%w: spec needs %d parameters, file has %d",
			ErrCorrupt, len(f.theta), count)
	}
	for i := range f.theta {
		v := math.Float64frombits(binary.LittleEndian.Uint64(p[8*i:]))
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, nil, fmt.Errorf("%w: parameter %d is %v", ErrCorrupt, i, v)
		}
		f.theta[i] = v
	}
	if err := f.checkMasks(); err != nil {
		return nil, nil, err
	}
	f.anInit = flags&flagActNormInit != 0
	f.linFit = flags&flagLinearFit != 0
	return f, append([]byte(nil), meta...), nil
}

// checkMasks rejects weights outside the MADE masks and linear base
// coefficients above its diagonal: they would break the
// autoregressive structure every exactness claim rests on.
func (f *Flow) checkMasks() error {
	if f.lin != nil {
		if err := f.lin.checkTriangle(); err != nil {
			return err
		}
	}
	for k, m := range f.layers {
		for _, l := range m.dense() {
			for i, ok := range l.mask {
				if !ok && l.w[i] != 0 {
					return fmt.Errorf("%w: layer %d has a weight outside its mask", ErrCorrupt, k)
				}
			}
		}
	}
	return nil
}
