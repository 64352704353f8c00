package tikv_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/raw"
	"github.com/tikvgo/tikv/transport"
)

// rawGetStores records which store served each RawGet.
type rawGetStores struct {
	mu     sync.Mutex
	stores []uint64
}

func (r *rawGetStores) observe(store uint64, cmd transport.Cmd, _ transport.Message) {
	if cmd != transport.CmdRawGet {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stores = append(r.stores, store)
}

func (r *rawGetStores) take() []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.stores
	r.stores = nil
	return out
}

// TestHealthFeedbackOverGRPCSteersPreferLeader: a store that reports
// itself slow in the health feedback on its BatchCommands stream counts as
// Slow in the client's view as soon as a batched request to it has
// returned, and a prefer-leader read then goes to a follower; once the
// store reports a healthy score again, the leader serves.
func TestHealthFeedbackOverGRPCSteersPreferLeader(t *testing.T) {
	mock := mocktikv.Start(t, mocktikv.WithStores(3), mocktikv.WithHealthFeedbackInterval(10*time.Millisecond))
	key := []byte("k")
	_, leader := mock.RegionByKey(key)
	if leader == nil {
		t.Fatal("no leader")
	}
	slow := leader.GetStoreId()
	if err := mock.SetSlowScore(slow, 100); err != nil {
		t.Fatal(err)
	}
	var gets rawGetStores
	mock.OnRequest(gets.observe)

	cluster, err := tikv.Connect(t.Context(), mock.PDAddrs())
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	client := raw.NewClient(cluster)
	cache := cluster.RegionCacheFor(kv.ModeRaw)
	if h := cache.StoreHealth(slow); h.Slow() {
		t.Fatalf("health before any request = %+v, want not slow", h)
	}

	// The write goes to the leader over its BatchCommands stream; the
	// stream's first response carried the store's feedback, recorded
	// before the write's answer was delivered.
	if err := client.Put(t.Context(), key, []byte("v")); err != nil {
		t.Fatal(err)
	}
	h := cache.StoreHealth(slow)
	if !h.Slow() || h.ServerSlowScore != 100 || h.SlowScore >= pdclient.SlowScoreThreshold {
		t.Fatalf("leader health after a batched write = %+v, want slow by its own score of 100 only", h)
	}

	v, err := client.Get(t.Context(), key, raw.ReplicaRead(kv.ReplicaReadPreferLeader))
	if err != nil || string(v) != "v" {
		t.Fatalf("prefer-leader Get = %q, %v", v, err)
	}
	if got := gets.take(); len(got) != 1 || got[0] == slow {
		t.Fatalf("prefer-leader read served by stores %v, want one follower (slow leader is %d)", got, slow)
	}

	// The store recovers: a later response's feedback says so (the client
	// takes a changed score at most every 100ms per store).
	if err := mock.SetSlowScore(slow, 1); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for cache.StoreHealth(slow).Slow() {
		if time.Now().After(deadline) {
			t.Fatalf("leader still slow: %+v", cache.StoreHealth(slow))
		}
		if err := client.Put(t.Context(), key, []byte("v")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := client.Get(t.Context(), key, raw.ReplicaRead(kv.ReplicaReadPreferLeader)); err != nil {
		t.Fatal(err)
	}
	if got := gets.take(); len(got) != 1 || got[0] != slow {
		t.Fatalf("prefer-leader read served by stores %v, want the recovered leader %d", got, slow)
	}
}

// TestHealthFeedbackStaleScoreIsAskedFor runs in virtual time over the
// in-process transport: a TiKV-side score above 1 that nothing confirms for
// 15s makes the region cache ask the store with GetHealthFeedback; the
// answer, recorded from the response, keeps a still-slow store slow and
// clears a recovered one at once, where without it the score would only
// decay by 20 a minute.
func TestHealthFeedbackStaleScoreIsAskedFor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mock := mocktikv.NewCluster(mocktikv.WithStores(2))
		defer mock.Close()
		var asked sync.Map // store id -> number of GetHealthFeedback calls
		mock.OnRequest(func(store uint64, cmd transport.Cmd, _ transport.Message) {
			if cmd == transport.CmdGetHealthFeedback {
				n, _ := asked.LoadOrStore(store, new(int))
				*n.(*int)++
			}
		})
		cluster, err := tikv.Connect(context.Background(), nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()))
		if err != nil {
			t.Fatal(err)
		}
		defer cluster.Close()
		client := raw.NewClient(cluster)
		key := []byte("k")
		if err := client.Put(context.Background(), key, []byte("v")); err != nil {
			t.Fatal(err)
		}
		_, leader := mock.RegionByKey(key)
		store := leader.GetStoreId()
		cache := cluster.RegionCacheFor(kv.ModeRaw)

		// The in-process transport has no BatchCommands stream to carry
		// feedback: hand the cache the slow score a stream would have.
		if err := mock.SetSlowScore(store, 90); err != nil {
			t.Fatal(err)
		}
		cache.RecordHealthFeedback(store, 90)
		time.Sleep(30500 * time.Millisecond)
		synctest.Wait()
		if n, _ := asked.Load(store); n == nil || *n.(*int) != 2 {
			t.Fatalf("GetHealthFeedback calls in 30s = %v, want one per 15s", n)
		}
		if h := cache.StoreHealth(store); h.ServerSlowScore != 90 {
			t.Fatalf("health after the store confirmed 90 = %+v, want no decay", h)
		}

		if err := mock.SetSlowScore(store, 1); err != nil {
			t.Fatal(err)
		}
		time.Sleep(15 * time.Second)
		synctest.Wait()
		if h := cache.StoreHealth(store); h.ServerSlowScore != 1 || h.Slow() {
			t.Fatalf("health after the store answered 1 = %+v", h)
		}
	})
}
