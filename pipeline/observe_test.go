package pipeline

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/observe"
	"github.com/tikvgo/tikv/transport"
)

type eventLog struct {
	mu     sync.Mutex
	events []string
	calls  []observe.Call
}

func (l *eventLog) Start(ctx context.Context, c observe.Call) context.Context {
	l.mu.Lock()
	l.calls = append(l.calls, c)
	l.events = append(l.events, "start "+c.API)
	l.mu.Unlock()
	return ctx
}

func (l *eventLog) Event(_ context.Context, e observe.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch e.Kind {
	case observe.Split, observe.Resplit:
		l.events = append(l.events, fmt.Sprintf("%s %d->%d@%d", e.Kind, e.Piece, e.Pieces, e.FirstPiece))
	case observe.Backoff:
		l.events = append(l.events, fmt.Sprintf("backoff %s %d", e.Backoff, e.Piece))
	default:
		l.events = append(l.events, e.Kind.String())
	}
}

func (l *eventLog) End(_ context.Context, c observe.Call, err error) {
	l.mu.Lock()
	l.events = append(l.events, fmt.Sprintf("end %s %v", c.API, err))
	l.mu.Unlock()
}

// TestShardReportsSplitsAndRenumbersChildren: a batch get cut into two
// pieces whose second piece's region split meanwhile is re-split into two
// children, which take the call's next piece numbers (3 and 4); the
// attempts carry those numbers and the call's identity.
func TestShardReportsSplitsAndRenumbersChildren(t *testing.T) {
	c := newFakeCluster("m")
	env := c.env()
	env.Concurrency = 1
	log := &eventLog{}
	env.Observer = log
	plan := Shard(env, batchGetSplit(Limit[[]byte]{}), Retry(env, testBatchGet), Named("BatchGet"))
	// Warm the cache, then split the second region behind its back.
	if _, err := plan(context.Background(), &kvrpcpb.RawBatchGetRequest{Keys: [][]byte{[]byte("a")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Locate(context.Background(), []byte("x")); err != nil {
		t.Fatal(err)
	}
	c.truth.Split("t", 9)
	log.events = nil
	sentBefore := c.rec.Len()

	if _, err := plan(context.Background(), &kvrpcpb.RawBatchGetRequest{Keys: [][]byte{[]byte("a"), []byte("p"), []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	log.mu.Lock()
	events := slices.Clone(log.events)
	log.mu.Unlock()
	if events[0] != "start BatchGet" || events[1] != "split 0->2@1" || events[len(events)-1] != "end BatchGet <nil>" ||
		!slices.Contains(events, "resplit 2->2@3") {
		t.Fatalf("events:\n  %s", strings.Join(events, "\n  "))
	}
	var pieces []int
	var calls []uint64
	for _, r := range c.rec.Requests()[sentBefore:] {
		if r.Call.API != "BatchGet" {
			t.Fatalf("attempt without the call's identity: %+v", r.Call)
		}
		pieces = append(pieces, r.Piece)
		calls = append(calls, r.Call.ID)
	}
	// Piece 2's first attempt went to the stale region; its children 3
	// and 4 then succeeded.
	if !slices.Equal(pieces, []int{1, 2, 3, 4}) || len(slices.Compact(slices.Clone(calls))) != 1 || calls[0] == 0 {
		t.Fatalf("attempts' pieces %v, calls %v", pieces, calls)
	}
}

// TestAllStoresIsOneObservedCall: an AllStores call is one logical call
// whose stores are its pieces, numbered in store-id order.
func TestAllStoresIsOneObservedCall(t *testing.T) {
	c := newFakeClusterOf(3)
	env := c.env()
	log := &eventLog{}
	env.Observer = log
	var mu sync.Mutex
	pieceOf := map[uint64]int{}
	var calls []observe.Call
	env.Sender = transport.SenderFunc(func(_ context.Context, req *transport.Request) (*transport.Response, error) {
		mu.Lock()
		pieceOf[req.Target.StoreID] = req.Piece
		calls = append(calls, req.Call)
		mu.Unlock()
		return &transport.Response{Msg: &kvrpcpb.StoreSafeTSResponse{SafeTs: 7}}, nil
	})
	safeTS := Method[*kvrpcpb.StoreSafeTSRequest, *kvrpcpb.StoreSafeTSResponse]{Cmd: transport.CmdStoreSafeTS, Idempotent: true, Read: true}
	res, err := AllStores(env, safeTS, Named("SafeTS"))(context.Background(), &kvrpcpb.StoreSafeTSRequest{})
	if err != nil || len(res) != 3 {
		t.Fatalf("AllStores = %v, %v", res, err)
	}
	if pieceOf[1] != 1 || pieceOf[2] != 2 || pieceOf[3] != 3 || calls[0].API != "SafeTS" ||
		calls[0] != calls[1] || calls[1] != calls[2] {
		t.Fatalf("pieces by store %v, calls %v", pieceOf, calls)
	}
	want := []string{"start SafeTS", "split 0->3@1", "end SafeTS <nil>"}
	if !slices.Equal(log.events, want) {
		t.Fatalf("events %v, want %v", log.events, want)
	}
}

// TestBeginCallSpansPlans: two plans run under one BeginCall are one
// logical call: their attempts carry its identity and an observer sees one
// start and one end, with both plans' splits in between; without an
// observer the identity is still shared; a nested BeginCall joins.
func TestBeginCallSpansPlans(t *testing.T) {
	for _, observed := range []bool{false, true} {
		c := newFakeCluster("m")
		env := c.env()
		log := &eventLog{}
		if observed {
			env.Observer = log
		}
		get := Single(Shard(env, ByKey((*kvrpcpb.RawGetRequest).GetKey), Retry(env, testGet), Named("Get")))
		ctx, end := BeginCall(context.Background(), env, "Both")
		inner, innerEnd := BeginCall(ctx, env, "Inner")
		if inner != ctx {
			t.Fatal("a nested BeginCall did not join the call")
		}
		innerEnd(nil)
		for _, k := range []string{"a", "z"} {
			if _, err := get(ctx, &kvrpcpb.RawGetRequest{Key: []byte(k)}); err != nil {
				t.Fatal(err)
			}
		}
		end(nil)
		sent := c.rec.Requests()
		if len(sent) != 2 || sent[0].Call != sent[1].Call || sent[0].Call.API != "Both" || sent[0].Call.ID == 0 {
			t.Fatalf("observed %v: attempts' calls %v / %v", observed, sent[0].Call, sent[len(sent)-1].Call)
		}
		if observed {
			// Each plan numbers its own pieces from 1.
			events := slices.DeleteFunc(slices.Clone(log.events), func(e string) bool { return strings.HasPrefix(e, "cache-") })
			want := []string{"start Both", "split 0->1@1", "split 0->1@1", "end Both <nil>"}
			if !slices.Equal(events, want) {
				t.Fatalf("events %v, want %v", log.events, want)
			}
		}
	}
}
