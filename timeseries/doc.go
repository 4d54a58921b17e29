// Package timeseries turns the events producers write into the model's
// windows: input decoders (JSON, Influx line protocol, NAB CSV), per-series
// regular grids with gap filling and lateness rules, ring-buffer windows,
// robust normalisation and calendar and seasonal-lag context features.
//
// It knows nothing of models, Kafka or storage, never logs, and imports
// no metrics library: decisions are counted in plain integers (Stats) and
// classified by small enums (Kind, Reason) whose String forms are meant as
// metric labels.
//
// # Samples
//
// A Sample is one observation: a SeriesID (metric name plus labels sorted
// by name), a UTC time and one float64 per channel. SeriesID.Key is a
// stable string for maps and Kafka keys, SeriesID.Hash its 64-bit FNV-1a
// hash. Encode and DecodeSample give the canonical JSON form used to
// re-key samples into an internal topic; DecodeSample(Encode(s)) equals s
// for every valid s.
//
// # Decoders
//
// JSONDecoder, LineDecoder and CSVDecoder implement Decoder. They never
// panic and reject NaN, infinities, overflowing numbers, missing and
// mistyped fields, empty names, bad or ambiguous timestamps and invalid
// UTF-8 with a *DecodeError that carries a Kind, the field, the line and
// the byte offset. A payload with several samples costs only its bad
// ones: Decode returns the good samples and errors.Join of one
// *DecodeError per bad sample (list them with DecodeErrors). A payload
// that carries no sample at all (the JSON array [], line protocol of only
// comments, a CSV header without rows) is a KindNoSamples error, so that
// nothing is dropped unseen. CSV and line-protocol values are decimal
// numbers, as ParseNumber reads them: Go's 1_000 and 0x1p4 are refused.
//
// # Grid and windows
//
// A Series holds one series' state for a Config: either a regular grid
// (Config.Step > 0; samples inside a step are aggregated by mean, last,
// sum or max; a step is final once the newest sample time minus
// Config.Lateness has passed its end; older samples are rejected as too
// late) or the "as it comes" mode (Step = 0) for data that is regular
// already. Short gaps (up to Config.MaxFill steps) are filled by carrying
// forward or linear interpolation and marked Filled so they are neither
// scored nor flagged; a longer gap restarts the window. Monotonic counters
// (Config.Counter) become per-second rates with resets detected.
//
// Push reports how many steps a sample completed; Advance completes the
// steps of a quiet series from an event-time high-water mark, and Flush
// completes all of them at the end of a replay. Step(ago), WindowAt and
// ContextAt read them; windows are W steps of C values flattened oldest
// first into the caller's slice. Pushing to a known series and reading
// windows and context allocate nothing. Values returned by Step alias
// internal buffers that the next Push overwrites.
//
// # Context and normalisation
//
// Config.Calendar adds sine and cosine of hour of day and day of week in
// Config.Location, following the wall clock across daylight-saving
// changes. Config.Lags adds the values a day or a week ago, kept as
// bucket means at Config.LagResolution, coarser buckets for less memory.
// FitNormaliser fits a robust per-channel location and scale (median, MAD
// with fallbacks and floors) that trainers store as JSON with a model;
// Config.NormWarmUp makes each series fit its own after a warm-up, for
// series no model has seen.
//
// # Partitions
//
// A Partition owns the series of one input partition. It evicts idle
// series (Evict) and snapshots and restores all state with encoding/gob
// in a versioned format (Snapshot, RestorePartition). Series and
// Partition are not safe for concurrent use; decoders are.
//
// # Counters
//
// Stats fields, each only growing, suit Prometheus counters such as
// flowguard_timeseries_<field>_total:
//
//	Accepted, LateAccepted, Duplicates     samples taken
//	TooLate, DupRejected, Invalid          samples refused (see Reason)
//	Steps, GapFilled, WindowRestarts       steps emitted, filled, restarts
//	CounterResets                          counter decreases seen
//	Evicted                                idle series dropped
package timeseries
