package raw_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tikvgo/tikv/mocktikv"
)

// TestStoreRestartMidWorkload stops a store under a running workload, moves
// its leaders away (what raft's election would do), then restarts it and
// moves leaders back. The same client keeps working throughout: requests
// fail over to the new leaders and come back to the restarted store once
// its health check passes; no request outlives its context.
func TestStoreRestartMidWorkload(t *testing.T) {
	mock, _, client := connectGRPC(t, []mocktikv.Option{
		mocktikv.WithStores(3),
		mocktikv.WithSplitKeys(key(250), key(500), key(750)),
	})
	ctx := t.Context()
	var keys, values [][]byte
	for i := range 1000 {
		keys, values = append(keys, key(i)), append(values, value(i))
	}
	if err := client.BatchPut(ctx, keys, values); err != nil {
		t.Fatal(err)
	}

	const perRequest = 2 * time.Second
	var (
		stop      atomic.Bool
		ok, fails atomic.Int64
		overshoot atomic.Int64 // worst time past a request's deadline, ns
		wg        sync.WaitGroup
		errMu     sync.Mutex
		lastErr   error
	)
	for w := range 8 {
		wg.Go(func() {
			for i := w; !stop.Load(); i = (i + 8) % 1000 {
				rctx, cancel := context.WithTimeout(ctx, perRequest)
				deadline, _ := rctx.Deadline()
				var err error
				if i%2 == 0 {
					_, err = client.Get(rctx, keys[i])
				} else {
					err = client.Put(rctx, keys[i], values[i])
				}
				cancel()
				if late := time.Since(deadline); late > 0 {
					for {
						cur := overshoot.Load()
						if int64(late) <= cur || overshoot.CompareAndSwap(cur, int64(late)) {
							break
						}
					}
				}
				if err != nil {
					fails.Add(1)
					errMu.Lock()
					lastErr = err
					errMu.Unlock()
				} else {
					ok.Add(1)
				}
			}
		})
	}
	// succeedsFor waits until requests have been succeeding for a while.
	succeedsFor := func(phase string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) {
			before := ok.Load()
			time.Sleep(300 * time.Millisecond)
			if ok.Load() > before+20 {
				return
			}
		}
		errMu.Lock()
		defer errMu.Unlock()
		t.Fatalf("%s: requests are not succeeding (ok %d, failed %d, last error %v)", phase, ok.Load(), fails.Load(), lastErr)
	}
	succeedsFor("before the outage")

	victim := mock.StoreIDs()[0]
	if err := mock.StopStore(victim); err != nil {
		t.Fatal(err)
	}
	moved := moveLeaders(t, mock, victim, false)
	if moved == 0 {
		t.Fatal("the stopped store led no region")
	}
	succeedsFor("after fail-over")

	if err := mock.StartStore(victim); err != nil {
		t.Fatal(err)
	}
	moveLeaders(t, mock, victim, true)
	// Requests to the restarted store succeed again once its background
	// health check marks it reachable: without it, leader hints pointing
	// there would be ignored.
	succeedsFor("after the restart")
	for _, k := range [][]byte{key(0), key(250), key(500), key(750)} {
		if _, leader := mock.RegionByKey(k); leader.GetStoreId() == victim {
			rctx, cancel := context.WithTimeout(ctx, perRequest)
			_, err := client.Get(rctx, k)
			cancel()
			if err != nil {
				t.Fatalf("read from the restarted store's region: %v", err)
			}
		}
	}
	stop.Store(true)
	wg.Wait()
	// A request may return slightly after its deadline (the scheduler, the
	// race detector); it must never run on as if it had none.
	if late := time.Duration(overshoot.Load()); late > time.Second {
		t.Fatalf("a request returned %v after its deadline", late)
	}
	t.Logf("ok %d, failed %d, worst overshoot %v", ok.Load(), fails.Load(), time.Duration(overshoot.Load()))
}

// moveLeaders moves leadership of every region led by store (toStore false)
// to another store, or of every region to store (toStore true), as raft
// would after a failure or a rebalance. It returns how many moved.
func moveLeaders(t *testing.T, mock *mocktikv.Cluster, store uint64, toStore bool) int {
	t.Helper()
	moved := 0
	for _, r := range mock.Regions() {
		_, leader := mock.RegionByKey(r.GetStartKey())
		target := uint64(0)
		switch {
		case toStore && leader.GetStoreId() != store:
			target = store
		case !toStore && leader.GetStoreId() == store:
			target = otherStore(mock, store)
		}
		if target == 0 {
			continue
		}
		if err := mock.TransferLeader(r.GetId(), target); err != nil {
			t.Fatalf("move leader of region %d: %v", r.GetId(), err)
		}
		moved++
	}
	return moved
}
