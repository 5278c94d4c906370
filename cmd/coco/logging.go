package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"unicode"
)

// logFlags are the logging options of the long-running commands (`coco
// up`, `coco control`).
type logFlags struct {
	format, level string
	quiet         bool
}

func addLogFlags(fs *flag.FlagSet) *logFlags {
	l := &logFlags{}
	fs.StringVar(&l.format, "log-format", "text", "log as text (key=value lines) or json (one object a line)")
	fs.StringVar(&l.level, "log-level", "info", "log from this level up: debug, info, warn or error")
	fs.BoolVar(&l.quiet, "quiet", false, "log less: only coco's own lines, not the nodes' diagnostics")
	return l
}

// logger makes the command's logger, writing to w.
func (l *logFlags) logger(w io.Writer) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(l.level)); err != nil {
		return nil, usagef("--log-level %q: want debug, info, warn or error", l.level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch l.format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usagef("--log-format %q: want text or json", l.format)
}

// logf adapts lg to the Logf funcs the daemon and the control plane log
// through: each line is a record at level info, whose leading "word:"
// (the package or part that logged it: "node:", "pubsub:") becomes its
// component attribute. The lines stay as written; only the edge changes.
func logf(lg *slog.Logger) func(format string, args ...any) {
	return func(format string, args ...any) {
		if !lg.Enabled(context.Background(), slog.LevelInfo) {
			return
		}
		msg := fmt.Sprintf(format, args...)
		if comp, rest, ok := strings.Cut(msg, ": "); ok && isComponent(comp) {
			lg.Info(rest, "component", comp)
			return
		}
		lg.Info(msg)
	}
}

// isComponent reports whether s looks like a component's name: one
// lowercase word ("node", "pubsub", "coco up").
func isComponent(s string) bool {
	if s == "" || len(s) > 24 {
		return false
	}
	for _, r := range s {
		if !unicode.IsLower(r) && !unicode.IsDigit(r) && r != '/' && r != '-' && r != ' ' {
			return false
		}
	}
	return strings.Count(s, " ") <= 1
}
