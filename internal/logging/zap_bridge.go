package logging

import (
	"context"
	"log/slog"
	"maps"
	"slices"

	"go.uber.org/zap/zapcore"
)

// slogLevel maps a zap level to the slog level of the same meaning; zap's
// levels above Error (DPanic, Panic, Fatal) become Error+4, the next step
// slog's own spacing leaves for them.
func slogLevel(l zapcore.Level) slog.Level {
	switch {
	case l <= zapcore.DebugLevel:
		return slog.LevelDebug
	case l == zapcore.InfoLevel:
		return slog.LevelInfo
	case l == zapcore.WarnLevel:
		return slog.LevelWarn
	case l == zapcore.ErrorLevel:
		return slog.LevelError
	default:
		return slog.LevelError + 4
	}
}

// sinks is where a bridged record goes. enabled says whether any handler
// wants a record of a level; handlers returns the level the record is to
// be handled at (the sinks may adjust it) and the handlers that want it.
// enabled is called on every record, so it must be cheap.
type sinks interface {
	enabled(slog.Level) bool
	handlers(slog.Level) (slog.Level, []slog.Handler)
}

// zapBridge is a zapcore.Core that turns zap entries into slog records and
// hands them to its sinks. Fields are converted when a record is written,
// never for a level nobody wants.
type zapBridge struct {
	to     sinks
	level  zapcore.LevelEnabler // pingcap/log's own level (log.SetLevel)
	fields []zapcore.Field      // from With
}

func (b *zapBridge) Enabled(l zapcore.Level) bool {
	return b.level.Enabled(l) && b.to.enabled(slogLevel(l))
}

func (b *zapBridge) With(fs []zapcore.Field) zapcore.Core {
	return &zapBridge{to: b.to, level: b.level, fields: append(b.fields[:len(b.fields):len(b.fields)], fs...)}
}

func (b *zapBridge) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if b.Enabled(e.Level) {
		return ce.AddCore(e, b)
	}
	return ce
}

func (b *zapBridge) Write(e zapcore.Entry, fs []zapcore.Field) error {
	level, hs := b.to.handlers(slogLevel(e.Level))
	if len(hs) == 0 {
		return nil
	}
	r := slog.NewRecord(e.Time, level, e.Message, 0)
	if orig := slogLevel(e.Level); level != orig {
		r.AddAttrs(slog.String("demoted_from", orig.String()))
	}
	if e.LoggerName != "" {
		r.AddAttrs(slog.String("logger", e.LoggerName))
	}
	r.AddAttrs(zapAttrs(b.fields)...)
	r.AddAttrs(zapAttrs(fs)...)
	if e.Stack != "" {
		r.AddAttrs(slog.String("stack", e.Stack))
	}
	var first error
	for _, h := range hs {
		if err := h.Handle(context.Background(), r.Clone()); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (b *zapBridge) Sync() error { return nil }

// zapAttrs renders zap fields as slog attributes, in order, with the values
// zap's own encoders would print (an error field becomes its message, a
// stringer its string).
func zapAttrs(fs []zapcore.Field) []slog.Attr {
	if len(fs) == 0 {
		return nil
	}
	out := make([]slog.Attr, 0, len(fs))
	for _, f := range fs {
		enc := zapcore.NewMapObjectEncoder()
		f.AddTo(enc)
		for _, k := range slices.Sorted(maps.Keys(enc.Fields)) {
			out = append(out, slog.Any(k, enc.Fields[k]))
		}
	}
	return out
}
