package observe

import (
	"context"
	"errors"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type ctxKey struct{}

type log struct {
	started, ended []Call
	events         []Event
	endErr         error
	sawSpan        bool
}

func (l *log) Start(ctx context.Context, c Call) context.Context {
	l.started = append(l.started, c)
	return context.WithValue(ctx, ctxKey{}, "span")
}

func (l *log) Event(ctx context.Context, e Event) {
	l.sawSpan = ctx.Value(ctxKey{}) == "span"
	l.events = append(l.events, e)
}

func (l *log) End(ctx context.Context, c Call, err error) {
	l.ended, l.endErr = append(l.ended, c), err
}

// TestBeginEmitFinish: Begin hands the call to the observer and returns the
// context Start made (events see it); Emit fills in the call; Finish ends
// it with its error; none of them does anything without an observer.
func TestBeginEmitFinish(t *testing.T) {
	bg := context.Background()
	if Begin(bg, nil, Call{API: "x", ID: 1}) != bg {
		t.Fatal("Begin with no observer changed the context")
	}
	Emit(bg, Event{Kind: Split}) // no observer: nothing to call, no panic
	Finish(bg, nil)
	if _, ok := Observed(bg); ok {
		t.Fatal("Observed on a bare context")
	}

	l := &log{}
	call := Call{API: "RawGet", ID: 7}
	ctx := Begin(bg, l, call)
	if c, ok := Observed(ctx); !ok || c != call {
		t.Fatalf("Observed = %v, %v", c, ok)
	}
	Emit(ctx, Event{Kind: Backoff, Piece: 2, Backoff: "regionMiss"})
	boom := errors.New("boom")
	Finish(ctx, boom)
	if len(l.started) != 1 || len(l.ended) != 1 || l.ended[0] != call || l.endErr != boom {
		t.Fatalf("start %v end %v err %v", l.started, l.ended, l.endErr)
	}
	if len(l.events) != 1 || l.events[0].Call != call || l.events[0].Piece != 2 || !l.sawSpan {
		t.Fatalf("events %+v (saw the call's context: %v)", l.events, l.sawSpan)
	}
}

func TestNames(t *testing.T) {
	for k, want := range map[Kind]string{Split: "split", Resplit: "resplit", Backoff: "backoff",
		CacheMiss: "cache-miss", CacheLoad: "cache-load", PDCall: "pd-call", Kind(99): "Kind(99)"} {
		if k.String() != want {
			t.Errorf("%d: %q, want %q", k, k.String(), want)
		}
	}
	if s := (Call{API: "RawGet", ID: 3}).String(); s != "RawGet#3" {
		t.Errorf("Call.String = %q", s)
	}
}
