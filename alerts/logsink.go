package alerts

import (
	"context"
	"log/slog"
)

// Log writes each alert to a slog.Logger: opens and updates at Warn,
// resolves at Info.
type Log struct {
	log *slog.Logger
}

var _ Sink = (*Log)(nil)

// NewLog returns a sink writing to log.
func NewLog(log *slog.Logger) *Log { return &Log{log: log} }

// Name returns "log".
func (l *Log) Name() string { return SinkLog }

// Close does nothing.
func (l *Log) Close() error { return nil }

// Send logs m; it never fails.
func (l *Log) Send(ctx context.Context, m *Message) error {
	level := slog.LevelWarn
	if m.Kind == KindResolve {
		level = slog.LevelInfo
	}
	l.log.LogAttrs(ctx, level, "alert "+string(m.Kind),
		slog.String("message_id", m.ID),
		slog.Int64("incident_id", m.IncidentID),
		slog.String("series", m.Series),
		slog.String("model_group", m.Group),
		slog.String("severity", m.Severity),
		slog.Int("points", m.Points),
		slog.Float64("p_value", m.PValue),
		slog.Float64("score", m.Score),
		slog.Int("model_version", m.ModelVersion),
		slog.Time("first_ts", m.FirstTS),
		slog.Time("last_ts", m.LastTS))
	return nil
}
