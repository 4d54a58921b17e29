// Package demo holds the parts of "detector demo" that are not wiring: a
// generator of a realistic series with known injected faults, a reader
// of NAB-format CSV files, and a producer that replays samples into the
// detector's input topic, paced by event time or by how fast the pipeline
// takes them, and held while the first model is trained.
package demo
