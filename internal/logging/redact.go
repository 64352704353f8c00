package logging

import (
	"context"
	"encoding/hex"
	"log/slog"
	"strings"
)

// Key is a user key carried by a log attribute (slog.Any("key", Key(k))).
// A handler made by Redact renders it under its mode; any other handler
// logs it as upper-case hex (LogValue), the form TiKV and client-go log
// keys in.
type Key []byte

// LogValue renders k as upper-case hex.
func (k Key) LogValue() slog.Value { return slog.StringValue(strings.ToUpper(hex.EncodeToString(k))) }

// Redact returns h with every Key attribute (in the record, in WithAttrs
// and inside groups) rendered by render instead of LogValue. Other
// attributes pass untouched, and a record without a Key is not copied.
func Redact(h slog.Handler, render func(k []byte) string) slog.Handler {
	return &redacting{next: h, render: render}
}

type redacting struct {
	next   slog.Handler
	render func([]byte) string
}

func (h *redacting) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *redacting) Handle(ctx context.Context, r slog.Record) error {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = carriesKey(a)
		return !found
	})
	if !found {
		return h.next.Handle(ctx, r)
	}
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.redact(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h *redacting) WithAttrs(as []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(as))
	for i, a := range as {
		red[i] = h.redact(a)
	}
	return &redacting{next: h.next.WithAttrs(red), render: h.render}
}

func (h *redacting) WithGroup(name string) slog.Handler {
	return &redacting{next: h.next.WithGroup(name), render: h.render}
}

// redact renders a's keys, descending into groups.
func (h *redacting) redact(a slog.Attr) slog.Attr {
	switch a.Value.Kind() {
	case slog.KindLogValuer:
		if k, ok := a.Value.Any().(Key); ok {
			return slog.String(a.Key, h.render(k))
		}
	case slog.KindGroup:
		g := a.Value.Group()
		red := make([]slog.Attr, len(g))
		for i, ga := range g {
			red[i] = h.redact(ga)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(red...)}
	}
	return a
}

func carriesKey(a slog.Attr) bool {
	switch a.Value.Kind() {
	case slog.KindLogValuer:
		_, ok := a.Value.Any().(Key)
		return ok
	case slog.KindGroup:
		for _, ga := range a.Value.Group() {
			if carriesKey(ga) {
				return true
			}
		}
	}
	return false
}
