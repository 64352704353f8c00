package logging

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestRedactRendersKeysOnly: Key attributes are rendered by the redactor
// wherever they are (record, WithAttrs, groups); other attributes, and
// Keys through a plain handler, keep their form (upper-case hex).
func TestRedactRendersKeysOnly(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(Redact(slog.NewTextHandler(&buf, nil), func([]byte) string { return "?" }))
	l.With(slog.Any("with", Key("w"))).Info("m", slog.Any("key", Key("k")), slog.String("plain", "p"),
		slog.Group("g", slog.Any("inner", Key("i"))))
	out := buf.String()
	for _, want := range []string{"with=? ", "key=? ", "plain=p ", "g.inner=?"} {
		if !strings.Contains(out, want) {
			t.Errorf("line %q lacks %q", out, want)
		}
	}
	buf.Reset()
	slog.New(slog.NewTextHandler(&buf, nil)).Info("m", slog.Any("key", Key("k")))
	if !strings.Contains(buf.String(), "key=6B") {
		t.Errorf("plain handler line %q, want key=6B", buf.String())
	}
}
