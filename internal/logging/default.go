package logging

import (
	"io"
	"log/slog"
	"os"
	"sync"
	"time"
)

// RepeatWindow is how long the default logger stays silent about a warning
// or error it has just written, counting the repeats instead: a PD that is
// down makes the PD client warn on every retry, a few times a second.
const RepeatWindow = 10 * time.Second

// NewQuiet returns the logger tikvgo uses when the application gives none:
// warnings and errors, as text, to w, with repeats of one message within
// RepeatWindow rate-limited (RateLimit).
func NewQuiet(w io.Writer) *slog.Logger {
	h := slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn})
	return slog.New(RateLimit(h, RepeatWindow, slog.LevelWarn))
}

// Default returns the process's quiet logger, writing to standard error.
// It is one logger for the process, not one per cluster, because standard
// error is one stream: two clusters that share it also share its rate
// limit, so a PD client message (which no cluster can claim, see
// RoutePD) is written once, not once per cluster.
var Default = sync.OnceValue(func() *slog.Logger { return NewQuiet(stderr{}) })

// stderr writes to whatever os.Stderr is at the time of the write, so that
// a program (or a test) that redirects os.Stderr after the logger was
// made is obeyed.
type stderr struct{}

func (stderr) Write(p []byte) (int, error) { return os.Stderr.Write(p) }
