// Package flowmodel implements normalizing flows for windows of time series:
// masked autoregressive conditioners (MADE), the flow layers built on them,
// exact per-step conditional log-densities for stacks that keep one time
// order, conditional sampling, maximum-likelihood training and the model
// file format.
//
// The package depends on gonum and the standard library only. It knows
// nothing of Kafka, PostgreSQL, HTTP or the service around it.
package flowmodel
