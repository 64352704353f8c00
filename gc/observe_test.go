package gc_test

import (
	"context"
	"sync"
	"testing"

	"github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/gc"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/observe"
)

// callLog records the calls an Observer sees and the events of each.
type callLog struct {
	mu     sync.Mutex
	starts []string
	ends   map[string]error
	events map[string]int
	// done is the largest Done of the Progress events.
	done int
}

func (l *callLog) Start(ctx context.Context, c observe.Call) context.Context {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.starts = append(l.starts, c.API)
	return ctx
}

func (l *callLog) Event(_ context.Context, e observe.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events[e.Call.API]++
	if e.Kind == observe.Progress {
		l.done = max(l.done, e.Done)
	}
}

func (l *callLog) End(_ context.Context, c observe.Call, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ends[c.API] = err
}

// TestGCObserved: a GC round is one logical call, "GC", for the observer
// (the lock sweep's range task and its scans join it), which sees its
// start, its routing events, the sweep's progress (observe.Progress up to
// both regions) and its successful end.
func TestGCObserved(t *testing.T) {
	mock := mocktikv.NewCluster()
	defer mock.Close()
	if _, err := mock.SplitTxn([]byte("m")); err != nil {
		t.Fatal(err)
	}
	log := &callLog{ends: map[string]error{}, events: map[string]int{}}
	c, err := tikv.Connect(context.Background(), nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()), tikv.WithObserver(log))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ts, err := c.Oracle().Now(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gc.Run(context.Background(), c, ts); err != nil {
		t.Fatal(err)
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	endErr, ended := log.ends["GC"]
	if len(log.starts) != 1 || log.starts[0] != "GC" || !ended || endErr != nil || log.events["GC"] == 0 {
		t.Fatalf("observed starts %v, ends %v, events %v; want one GC call with events, ended without error", log.starts, log.ends, log.events)
	}
	if log.done != 2 {
		t.Fatalf("progress events reached %d regions, want 2", log.done)
	}
}
