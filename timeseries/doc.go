// Package timeseries turns the events producers write into the model's
// windows: input decoders (JSON, Influx line protocol, NAB CSV), per-series
// regular grids with gap filling and lateness rules, ring-buffer windows,
// robust normalisation and calendar and seasonal-lag context features.
//
// It knows nothing of models, Kafka or storage.
package timeseries
