package app

import (
	"io"
	"log/slog"
	"strings"
)

// LogConfig selects the log level; logs are JSON lines on stderr.
type LogConfig struct {
	Level string `env:"LOG_LEVEL, default=info"`
}

// NewLogger returns the process's JSON logger.
func NewLogger(cfg LogConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(strings.ToUpper(cfg.Level))); err != nil {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}
