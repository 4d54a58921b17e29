package config

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Logger builds the command's logger from the log settings.
func (l Log) Logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(l.Level)); err != nil {
		return nil, fmt.Errorf("config: log.level %q: want debug, info, warn or error", l.Level)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(l.Format) {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("config: log.format %q: want text or json", l.Format)
}

// WarnUnknownEnv logs, once, the variables of environ that UnknownEnv
// finds: most likely misspelt, and ignored. A warning rather than an
// error, because the detector and the trainer may share an environment
// across versions: a setting new in one must not stop an older other.
func WarnUnknownEnv(log *slog.Logger, environ []string) {
	if names := UnknownEnv(environ); len(names) > 0 {
		log.Warn("ignoring environment variables that name no setting of the detector or "+
			"the trainer", "variables", strings.Join(names, ","))
	}
}
