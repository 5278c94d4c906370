package main

import (
	"fmt"
	"os"
)

// isTerminal reports whether f is a terminal (a character device).
func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	if !ok {
		return false
	}
	fi, err := file.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// liveLine redraws the status line on stderr ("\r…", a copy's progress, a
// push server's counters) when stderr is a terminal. Into a pipe, a file
// or systemd's journal it writes nothing: those lines never end, so they
// would pile up as one (the counters are in --json and the metrics).
func liveLine(e *env, format string, a ...any) {
	if !e.json && isTerminal(e.stderr) {
		fmt.Fprintf(e.stderr, "\r"+format, a...)
	}
}
