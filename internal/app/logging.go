package app

import (
	"context"
	"io"
	"log/slog"
	"strings"

	"github.com/witboost-community/cde-spark-provisioner/workflows"
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

// withComponentID adds componentID to every record that carries a WorkflowID of this provisioner
// (the SDK puts WorkflowID and RunID on the lines of workflows and activities, its own included),
// so that an operator can find one component's lines in the worker's logs as in the Temporal UI.
func withComponentID(h slog.Handler) slog.Handler { return componentIDHandler{Handler: h} }

type componentIDHandler struct {
	slog.Handler
	added bool // componentID is among the handler's attributes already
}

func (h componentIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if !h.added {
		if comp := componentOf(attrs); comp != "" {
			return componentIDHandler{Handler: h.Handler.WithAttrs(append(attrs, slog.String("componentID", comp))), added: true}
		}
	}
	return componentIDHandler{Handler: h.Handler.WithAttrs(attrs), added: h.added}
}

func (h componentIDHandler) WithGroup(name string) slog.Handler {
	return componentIDHandler{Handler: h.Handler.WithGroup(name), added: h.added}
}

func (h componentIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if !h.added {
		var attrs []slog.Attr
		r.Attrs(func(a slog.Attr) bool { attrs = append(attrs, a); return true })
		if comp := componentOf(attrs); comp != "" {
			r = r.Clone()
			r.AddAttrs(slog.String("componentID", comp))
		}
	}
	return h.Handler.Handle(ctx, r)
}

func componentOf(attrs []slog.Attr) string {
	for _, a := range attrs {
		if a.Key == "WorkflowID" {
			return workflows.ComponentIDFromWorkflowID(a.Value.String())
		}
	}
	return ""
}
