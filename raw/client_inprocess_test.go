package raw_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/middleware"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/transport"
)

// TestLeaderHintTakesNoBackoff runs in virtual time: following a NotLeader
// hint must not sleep at all.
func TestLeaderHintTakesNoBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		mock, _, client := connectInProcess(t, []mocktikv.Option{mocktikv.WithStores(3)}, tikv.WithMiddleware(rec.middleware))
		ctx := context.Background()
		if err := client.Put(ctx, []byte("k"), []byte("v")); err != nil {
			t.Fatal(err)
		}
		region, leader := mock.RegionByKey([]byte("k"))
		target := otherStore(mock, leader.GetStoreId())
		if err := mock.TransferLeader(region.GetId(), target); err != nil {
			t.Fatal(err)
		}
		rec.take()
		start := time.Now()
		if v, err := client.Get(ctx, []byte("k")); err != nil || string(v) != "v" {
			t.Fatalf("Get = %q, %v", v, err)
		}
		if slept := time.Since(start); slept != 0 {
			t.Fatalf("following the leader hint slept %v, want no backoff", slept)
		}
		got := rec.take()
		if len(got) != 2 || got[0].regErr != "NotLeader" || got[1].storeID != target {
			t.Fatalf("attempts = %+v, want NotLeader then the new leader", got)
		}
	})
}

// TestStoreDownBacksOffUntilDeadline runs in virtual time: with the
// leader's store down, the first attempt fails before reaching TiKV, the
// store's health check (the in-process Sender's, as the Pool's over gRPC)
// finds it down, and the client keeps asking the follower, which can only
// name the dead leader, backing off until the deadline. The error names
// the unreachable store.
func TestStoreDownBacksOffUntilDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		mock, _, client := connectInProcess(t, []mocktikv.Option{mocktikv.WithStores(2)}, tikv.WithMiddleware(rec.middleware))
		if err := client.Put(context.Background(), []byte("k"), []byte("v")); err != nil {
			t.Fatal(err)
		}
		_, leader := mock.RegionByKey([]byte("k"))
		if err := mock.StopStore(leader.GetStoreId()); err != nil {
			t.Fatal(err)
		}
		rec.take()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		start := time.Now()
		_, err := client.Get(ctx, []byte("k"))
		elapsed := time.Since(start)

		var exhausted *kv.BackoffExhaustedError
		if !errors.As(err, &exhausted) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Get = %v, want a deadline-bounded *kv.BackoffExhaustedError", err)
		}
		var down *kv.StoreUnreachableError
		if !errors.As(err, &down) || down.StoreID != leader.GetStoreId() || !errors.Is(down, transport.ErrNotSent) {
			t.Fatalf("%v: want the unreachable store %d and its refused send as the cause", err, leader.GetStoreId())
		}
		if elapsed != 10*time.Second {
			t.Fatalf("gave up after %v, want exactly at the 10s deadline", elapsed)
		}
		toLeader, toFollower := 0, 0
		for _, a := range rec.take() {
			if a.storeID == leader.GetStoreId() {
				toLeader++
			} else if a.regErr != "NotLeader" {
				t.Fatalf("follower attempt %+v, want NotLeader", a)
			} else {
				toFollower++
			}
		}
		// The dead store is skipped once its check failed; only the
		// background re-checks' windows could let another send through.
		if toLeader < 1 || toLeader > 3 || toFollower < 3 {
			t.Fatalf("%d sends to the stopped store, %d to the follower: want the dead store skipped after its check", toLeader, toFollower)
		}
	})
}

// TestMiddlewareOnionOrder: two client-wide middlewares and one interceptor
// attached to the call's context nest as an onion (first client-wide
// outermost, the ctx interceptor innermost), and every retry attempt passes
// through all three.
func TestMiddlewareOnionOrder(t *testing.T) {
	var (
		mu  sync.Mutex
		log []string
	)
	layer := func(name string) transport.Middleware {
		return func(next transport.Sender) transport.Sender {
			return transport.SenderFunc(func(ctx context.Context, req *transport.Request) (*transport.Response, error) {
				mu.Lock()
				log = append(log, fmt.Sprintf("%s>%d", name, req.Attempt))
				mu.Unlock()
				resp, err := next.Send(ctx, req)
				mu.Lock()
				log = append(log, fmt.Sprintf("%s<%d", name, req.Attempt))
				mu.Unlock()
				return resp, err
			})
		}
	}
	mock, _, client := connectInProcess(t, []mocktikv.Option{mocktikv.WithStores(2)},
		tikv.WithMiddleware(layer("A")), tikv.WithMiddleware(layer("B")))
	if err := client.Put(context.Background(), []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	// Move the leader so the next call needs a second attempt.
	region, leader := mock.RegionByKey([]byte("k"))
	if err := mock.TransferLeader(region.GetId(), otherStore(mock, leader.GetStoreId())); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	log = nil
	mu.Unlock()

	ctx := middleware.WithInterceptors(context.Background(), layer("C"))
	if _, err := client.Get(ctx, []byte("k")); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"A>0", "B>0", "C>0", "C<0", "B<0", "A<0",
		"A>1", "B>1", "C>1", "C<1", "B<1", "A<1",
	}
	if !slices.Equal(log, want) {
		t.Fatalf("middleware order = %v, want %v", log, want)
	}

	// Without the interceptor on the context, only A and B run.
	log = nil
	if _, err := client.Get(context.Background(), []byte("k")); err != nil {
		t.Fatal(err)
	}
	if want := []string{"A>0", "B>0", "B<0", "A<0"}; !slices.Equal(log, want) {
		t.Fatalf("middleware order without interceptor = %v, want %v", log, want)
	}
}
