package raw_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pingcap/kvproto/pkg/errorpb"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/observe"
	"github.com/tikvgo/tikv/transport"
)

// callRecorder is an Observer and a middleware at once: it records the calls'
// starts, events and ends, and every attempt's identity, in one timeline.
type callRecorder struct {
	mu       sync.Mutex
	timeline []string
	attempts []*transport.Request
	ended    map[uint64]error
}

func newCallRecorder() *callRecorder { return &callRecorder{ended: map[uint64]error{}} }

func (r *callRecorder) add(s string) {
	r.mu.Lock()
	r.timeline = append(r.timeline, s)
	r.mu.Unlock()
}

func (r *callRecorder) Start(ctx context.Context, c observe.Call) context.Context {
	r.add("start " + c.API)
	return ctx
}

func (r *callRecorder) Event(_ context.Context, e observe.Event) {
	switch e.Kind {
	case observe.Backoff:
		r.add(fmt.Sprintf("backoff %s piece %d", e.Backoff, e.Piece))
	case observe.PDCall:
		r.add("pd " + e.Method)
	case observe.Split, observe.Resplit:
		r.add(fmt.Sprintf("%s piece %d into %d from %d", e.Kind, e.Piece, e.Pieces, e.FirstPiece))
	default:
		r.add(e.Kind.String())
	}
}

func (r *callRecorder) End(_ context.Context, c observe.Call, err error) {
	r.mu.Lock()
	r.ended[c.ID] = err
	r.timeline = append(r.timeline, "end "+c.API)
	r.mu.Unlock()
}

func (r *callRecorder) middleware(next transport.Sender) transport.Sender {
	return transport.SenderFunc(func(ctx context.Context, req *transport.Request) (*transport.Response, error) {
		r.mu.Lock()
		cp := *req
		r.attempts = append(r.attempts, &cp)
		r.timeline = append(r.timeline, fmt.Sprintf("attempt %d piece %d", req.Attempt, req.Piece))
		r.mu.Unlock()
		return next.Send(ctx, req)
	})
}

func (r *callRecorder) snapshot() ([]string, []*transport.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.timeline), slices.Clone(r.attempts)
}

// TestObserverFollowsOneCallAcrossAReroute: a Get whose first attempt finds
// the region gone (RegionNotFound) is one logical call: both attempts carry
// its id, numbered 0 and 1, and the observer sees, in order, the cold
// cache's miss and PD lookup, the split, the attempt, the region-miss
// backoff, the second miss, the re-split and the second attempt. Over gRPC
// and in-process alike.
func TestObserverFollowsOneCallAcrossAReroute(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			rec := newCallRecorder()
			mock, _, client := m.connect(t, nil, tikv.WithObserver(rec), tikv.WithMiddleware(rec.middleware))
			ctx := t.Context()
			if err := client.Put(ctx, []byte("k"), []byte("v")); err != nil {
				t.Fatal(err)
			}
			r, _ := mock.RegionByKey([]byte("k"))
			mock.Inject(mocktikv.Fault{Cmd: transport.CmdRawGet, Steps: []mocktikv.Step{
				mocktikv.Times(1, mocktikv.RegionError(&errorpb.Error{RegionNotFound: &errorpb.RegionNotFound{RegionId: r.GetId()}})),
			}})
			rec.mu.Lock()
			rec.timeline, rec.attempts = nil, nil
			rec.mu.Unlock()

			got, err := client.Get(ctx, []byte("k"))
			if err != nil || string(got) != "v" {
				t.Fatalf("Get = %q, %v", got, err)
			}
			timeline, attempts := rec.snapshot()
			want := []string{
				"start RawGet",
				"split piece 0 into 1 from 1",
				"attempt 0 piece 1",
				"backoff regionMiss piece 1",
				"cache-miss", "pd GetRegion", "cache-load",
				"resplit piece 1 into 1 from 1",
				"attempt 1 piece 1",
				"end RawGet",
			}
			if !slices.Equal(timeline, want) {
				t.Fatalf("timeline:\n  %s\nwant:\n  %s", strings.Join(timeline, "\n  "), strings.Join(want, "\n  "))
			}
			if len(attempts) != 2 || attempts[0].Call != attempts[1].Call || attempts[0].Call.ID == 0 ||
				attempts[0].Call.API != "RawGet" {
				t.Fatalf("attempts' calls: %v", callsOf(attempts))
			}
			if err, ok := rec.ended[attempts[0].Call.ID]; !ok || err != nil {
				t.Fatalf("call end: recorded %v, err %v", ok, err)
			}
		})
	}
}

// TestObserverNumbersPiecesOfASplitCall: a batch get over two regions is
// one call of two pieces, each piece's attempts numbered from 0; a cold
// cache shows its miss before the split.
func TestObserverNumbersPiecesOfASplitCall(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			rec := newCallRecorder()
			mock, _, client := m.connect(t, nil, tikv.WithObserver(rec), tikv.WithMiddleware(rec.middleware))
			if _, err := mock.Split([]byte("m")); err != nil {
				t.Fatal(err)
			}
			if _, err := client.BatchGet(t.Context(), [][]byte{[]byte("a"), []byte("z")}); err != nil {
				t.Fatal(err)
			}
			timeline, attempts := rec.snapshot()
			if i, j := slices.Index(timeline, "cache-miss"), slices.Index(timeline, "split piece 0 into 2 from 1"); i < 0 || j < i {
				t.Fatalf("want a cache miss before the split into 2:\n  %s", strings.Join(timeline, "\n  "))
			}
			if timeline[0] != "start RawBatchGet" || timeline[len(timeline)-1] != "end RawBatchGet" {
				t.Fatalf("call not bracketed by start/end:\n  %s", strings.Join(timeline, "\n  "))
			}
			pieces := map[int]int{}
			for _, a := range attempts {
				if a.Call != attempts[0].Call || a.Attempt != 0 {
					t.Fatalf("attempts: %v", callsOf(attempts))
				}
				pieces[a.Piece]++
			}
			if len(attempts) != 2 || pieces[1] != 1 || pieces[2] != 1 {
				t.Fatalf("pieces of the attempts: %v", pieces)
			}
		})
	}
}

// TestCallIdentityWithoutObserver: with no observer installed, attempts
// still carry their call's identity, and consecutive calls differ.
func TestCallIdentityWithoutObserver(t *testing.T) {
	rec := newCallRecorder()
	_, _, client := connectInProcess(t, nil, tikv.WithMiddleware(rec.middleware))
	for range 2 {
		if err := client.Put(t.Context(), []byte("k"), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	_, attempts := rec.snapshot()
	if len(attempts) != 2 || attempts[0].Call.API != "RawPut" || attempts[0].Piece != 1 ||
		attempts[0].Call.ID == 0 || attempts[1].Call.ID <= attempts[0].Call.ID {
		t.Fatalf("attempts' calls: %v", callsOf(attempts))
	}
}

func callsOf(attempts []*transport.Request) []string {
	out := make([]string, len(attempts))
	for i, a := range attempts {
		out[i] = fmt.Sprintf("%v piece %d attempt %d", a.Call, a.Piece, a.Attempt)
	}
	return out
}
