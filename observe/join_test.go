package observe

import (
	"context"
	"errors"
	"slices"
	"testing"
)

// orderLog records, across several observers, who saw what in which order.
type orderLog struct{ lines []string }

type named struct {
	name string
	log  *orderLog
}

type nameKey struct{ name string }

func (n named) Start(ctx context.Context, c Call) context.Context {
	n.log.lines = append(n.log.lines, "start "+n.name)
	return context.WithValue(ctx, nameKey{n.name}, true)
}

func (n named) Event(ctx context.Context, e Event) {
	line := "event " + n.name + " " + e.Kind.String()
	if ctx.Value(nameKey{"a"}) == true && ctx.Value(nameKey{"b"}) == true {
		line += " (both contexts)"
	}
	n.log.lines = append(n.log.lines, line)
}

func (n named) End(ctx context.Context, c Call, err error) {
	n.log.lines = append(n.log.lines, "end "+n.name+" "+err.Error())
}

// TestJoin: a joined observer starts its members in order, each seeing the
// context the one before made, passes each event to all, and ends them in
// reverse order with the call's error.
func TestJoin(t *testing.T) {
	l := &orderLog{}
	o := Join(named{"a", l}, nil, named{"b", l})
	ctx := Begin(context.Background(), o, Call{API: "RawGet", ID: 1})
	Emit(ctx, Event{Kind: Backoff})
	Finish(ctx, errors.New("boom"))
	want := []string{"start a", "start b", "event a backoff (both contexts)", "event b backoff (both contexts)", "end b boom", "end a boom"}
	if !slices.Equal(l.lines, want) {
		t.Fatalf("got %q\nwant %q", l.lines, want)
	}
}

// TestJoinShortcuts: nothing to join is nil (plans then look for no
// observer), one observer is itself, and joined observers flatten.
func TestJoinShortcuts(t *testing.T) {
	if o := Join(nil, nil); o != nil {
		t.Fatalf("Join(nil, nil) = %v, want nil", o)
	}
	a := named{"a", &orderLog{}}
	if o := Join(nil, a); o != a {
		t.Fatalf("Join(nil, a) = %v, want a itself", o)
	}
	j := Join(Join(a, a), a)
	if got, ok := j.(joined); !ok || len(got) != 3 {
		t.Fatalf("Join(Join(a, a), a) = %#v, want three flat members", j)
	}
}
