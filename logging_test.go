package tikv_test

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/mocktikv"
)

// recordingHandler is a slog.Handler at Debug level that keeps each
// record's level and message.
type recordingHandler struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *recordingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r.Clone())
	return nil
}
func (h *recordingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordingHandler) WithGroup(string) slog.Handler      { return h }

func (h *recordingHandler) messages(level slog.Level) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, r := range h.records {
		if r.Level == level {
			out = append(out, r.Message)
		}
	}
	return out
}

// WithLogger receives the PD client's lines, from Connect through Close,
// at their own levels.
func TestWithLoggerReceivesPDClientLogs(t *testing.T) {
	mock := mocktikv.Start(t)
	h := &recordingHandler{}
	cluster, err := tikv.Connect(t.Context(), mock.PDAddrs(), tikv.WithLogger(slog.New(h)))
	if err != nil {
		t.Fatal(err)
	}
	if err := cluster.Close(); err != nil {
		t.Fatal(err)
	}
	info := h.messages(slog.LevelInfo)
	// Two lines the PD client writes on every Connect and Close
	// (pd/client's service_discovery.go and inner_client.go).
	for _, want := range []string{"[pd] init cluster id", "[pd] close client successfully"} {
		if !slices.Contains(info, want) {
			t.Errorf("logger's INFO records %q lack the PD client's %q", info, want)
		}
	}
}
