package middleware

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/transport"
)

// TestRedactionKey: TiDB's three modes render key "k" (0x6B) as hex, "?"
// and marked hex.
func TestRedactionKey(t *testing.T) {
	for _, c := range []struct {
		r    Redaction
		want string
	}{{RedactOff, "6B"}, {RedactOn, "?"}, {RedactMarker, "‹6B›"}} {
		if got := c.r.Key([]byte("k")); got != c.want {
			t.Errorf("%v.Key(k) = %q, want %q", c.r, got, c.want)
		}
	}
}

// TestRequestLoggingRedactsKeys: a failed attempt's line carries its key,
// rendered under the configured mode, as text output shows it.
func TestRequestLoggingRedactsKeys(t *testing.T) {
	for _, c := range []struct {
		r    Redaction
		want string
	}{{RedactOff, "key=6B "}, {RedactOn, "key=? "}, {RedactMarker, "key=‹6B› "}} {
		t.Run(c.r.String(), func(t *testing.T) {
			var buf bytes.Buffer
			fake := newScripted()
			fake.set(1, failing)
			s := transport.Chain(fake, RequestLogging(LoggingConfig{Logger: slog.New(slog.NewTextHandler(&buf, nil)), Redact: c.r}))
			_, _ = s.Send(context.Background(), rawGet(1))
			if out := buf.String(); !strings.Contains(out, c.want) {
				t.Fatalf("line %q, want %q", out, c.want)
			}
		})
	}
}

// TestRequestLoggingUsesCallLogger: a call whose context carries a logger
// is logged there, redacted, and not to the client's logger; every failed
// attempt of it, with no rate limit.
func TestRequestLoggingUsesCallLogger(t *testing.T) {
	client, call := &records{}, &records{}
	fake := newScripted()
	fake.set(1, failing)
	s := transport.Chain(fake, RequestLogging(LoggingConfig{Logger: slog.New(client), Redact: RedactOn}))
	ctx := WithCallLogger(context.Background(), slog.New(call))
	for range 3 {
		_, _ = s.Send(ctx, rawGet(1))
	}
	if got := client.take(); len(got) != 0 {
		t.Fatalf("client logger got %d lines, want none", len(got))
	}
	got := call.take()
	if len(got) != 3 {
		t.Fatalf("call logger got %d lines, want 3", len(got))
	}
	if k := attr(got[0], "key"); k.String() != "?" {
		t.Fatalf("call logger's key = %v, want ?", k)
	}
}

// TestFirstKey: the key logged for the request shapes kvrpcpb uses.
func TestFirstKey(t *testing.T) {
	for _, c := range []struct {
		msg  transport.Message
		want string
	}{
		{&kvrpcpb.RawGetRequest{Key: []byte("a")}, "a"},
		{&kvrpcpb.ScanRequest{StartKey: []byte("b")}, "b"},
		{&kvrpcpb.BatchGetRequest{Keys: [][]byte{[]byte("c"), []byte("d")}}, "c"},
		{&kvrpcpb.PrewriteRequest{Mutations: []*kvrpcpb.Mutation{{Key: []byte("e")}}}, "e"},
		{&kvrpcpb.BatchGetRequest{}, ""},
	} {
		if got := firstKey(c.msg); string(got) != c.want {
			t.Errorf("firstKey(%T) = %q, want %q", c.msg, got, c.want)
		}
	}
}
