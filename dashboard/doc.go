// Package dashboard serves flowguard's read-only web pages: the series with
// their current score and model version, a page per series with a chart of
// its recent values, flagged points, incidents and forecast fan, the model
// versions with their metrics, and the drift events.
//
// Pages are server-rendered HTML with inline SVG charts drawn by this
// package; templates and the style sheet are embedded in the binary, and
// no page loads anything from another host or runs any script.
//
// Recent values do not live in PostgreSQL: the series table keeps only the
// newest score. The series page asks an optional RecentValues source (the
// detector's in-memory windows) for them and, without one, plots the
// flagged points alone. The forecast fan comes from an optional Forecaster;
// FlowForecaster makes one from the forecast package's endpoint.
package dashboard
