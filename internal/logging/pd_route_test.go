package logging

import (
	"errors"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	pingcaplog "github.com/pingcap/log"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// pingcap/log's records, the PD client's logs, reach a routed logger with
// their level mapped, their fields as attributes, and stop when unrouted.
func TestRoutePDCarriesPingcapLogRecords(t *testing.T) {
	rec := &recorder{level: slog.LevelDebug}
	first := RoutePD(slog.New(rec))
	pingcaplog.Debug("d", zap.Int("n", 1))
	pingcaplog.Info("i", zap.String("url", "http://pd"))
	pingcaplog.Warn("w", zap.Error(errors.New("boom")))
	pingcaplog.With(zap.Uint64("cluster-id", 7)).Error("e")
	got := rec.take()
	want := []struct {
		level slog.Level
		msg   string
		key   string
		val   string
	}{
		{slog.LevelDebug, "d", "n", "1"},
		{slog.LevelInfo, "i", "url", "http://pd"},
		{slog.LevelWarn, "w", "error", "boom"},
		{slog.LevelError, "e", "cluster-id", "7"},
	}
	if len(got) != len(want) {
		t.Fatalf("routed logger got %d records, want %d: %v", len(got), len(want), got)
	}
	for i, w := range want {
		r := got[i]
		var val string
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == w.key {
				val = a.Value.String()
			}
			return true
		})
		if r.Level != w.level || r.Message != w.msg || val != w.val {
			t.Errorf("record %d = %v %q %s=%q, want %v %q %s=%q", i, r.Level, r.Message, w.key, val, w.level, w.msg, w.key, w.val)
		}
	}

	// Two routed loggers both get a record; after unrouting, neither the
	// first nor (for INFO) the quiet default does.
	rec2 := &recorder{level: slog.LevelInfo}
	second := RoutePD(slog.New(rec2))
	pingcaplog.Info("both")
	if len(rec.take()) != 1 || len(rec2.take()) != 1 {
		t.Fatal("a record did not reach both routed loggers")
	}
	pingcaplog.Debug("only the first wants debug")
	if len(rec.take()) != 1 || len(rec2.take()) != 0 {
		t.Fatal("a debug record went to a logger that does not want it, or missed one that does")
	}
	first.Closed()
	first.Closed() // idempotent
	pingcaplog.Info("second only")
	if len(rec.take()) != 0 || len(rec2.take()) != 1 {
		t.Fatal("an unrouted logger still gets records")
	}
	second.Closed()

	// pingcap/log.SetLevel still filters.
	rec3 := &recorder{level: slog.LevelDebug}
	defer RoutePD(slog.New(rec3)).Closed()
	prev := pingcaplog.GetLevel()
	pingcaplog.SetLevel(zapcore.ErrorLevel)
	defer pingcaplog.SetLevel(prev)
	pingcaplog.Warn("filtered by SetLevel")
	pingcaplog.Error("kept")
	if got := rec3.take(); len(got) != 1 || got[0].Message != "kept" {
		t.Fatalf("with SetLevel(Error): %v, want only the error", got)
	}
}

func TestSlogLevelMapping(t *testing.T) {
	for zl, want := range map[zapcore.Level]slog.Level{
		zapcore.DebugLevel:  slog.LevelDebug,
		zapcore.InfoLevel:   slog.LevelInfo,
		zapcore.WarnLevel:   slog.LevelWarn,
		zapcore.ErrorLevel:  slog.LevelError,
		zapcore.DPanicLevel: slog.LevelError + 4,
		zapcore.FatalLevel:  slog.LevelError + 4,
	} {
		if got := slogLevel(zl); got != want {
			t.Errorf("slogLevel(%v) = %v, want %v", zl, got, want)
		}
	}
}

// Around a PD client's Close, its warnings and errors are demoted to
// Debug: they are its goroutines finding their connections gone. They are
// again reported at their level once the grace period is over, and are
// demoted while no PD client is open.
func TestRoutePDDemotesShutdownNoise(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{level: slog.LevelDebug}
		open := RoutePD(slog.New(rec))
		defer open.Closed()
		closing := RoutePD(nil)
		pingcaplog.Warn("before")
		closing.Closing()
		pingcaplog.Warn("while closing")
		pingcaplog.Error("also while closing")
		closing.Closed()
		pingcaplog.Warn("just after")
		time.Sleep(closeGrace)
		pingcaplog.Warn("after the grace period")
		want := []slog.Level{slog.LevelWarn, slog.LevelDebug, slog.LevelDebug, slog.LevelDebug, slog.LevelWarn}
		got := rec.take()
		if len(got) != len(want) {
			t.Fatalf("got %d records, want %d: %v", len(got), len(want), got)
		}
		for i, r := range got {
			if r.Level != want[i] {
				t.Errorf("%q at %v, want %v", r.Message, r.Level, want[i])
			}
		}
	})
}
