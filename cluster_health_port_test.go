package tikv_test

import (
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/raw"
	"github.com/tikvgo/tikv/transport"
)

// TestPortGetHealthFeedback ports client-go's TestGetHealthFeedback
// (integration_tests/health_feedback_test.go), over gRPC with
// BatchCommands: with the client's view of a store's TiKV-side slow score
// set to an unstable 50, a GetHealthFeedback request to the store answers
// a non-zero sequence number, the store's slow score (1, healthy) and its
// id; and the score the stream carries back resets the client's view to 1.
// Three rounds, as the original.
func TestPortGetHealthFeedback(t *testing.T) {
	mock := mocktikv.Start(t, mocktikv.WithStores(2))
	cluster, err := tikv.Connect(t.Context(), mock.PDAddrs())
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	key := []byte("k")
	if err := raw.NewClient(cluster).Put(t.Context(), key, []byte("v")); err != nil {
		t.Fatal(err)
	}
	_, leader := mock.RegionByKey(key)
	storeID := leader.GetStoreId()
	cache := cluster.RegionCacheFor(kv.ModeRaw)
	store, err := cache.Store(t.Context(), storeID)
	if err != nil {
		t.Fatal(err)
	}
	for round := range 3 {
		cache.RecordHealthFeedback(storeID, 50)
		resp, err := cluster.Sender().Send(t.Context(), &transport.Request{
			Cmd: transport.CmdGetHealthFeedback, Msg: &kvrpcpb.GetHealthFeedbackRequest{Context: &kvrpcpb.Context{}},
			Target: transport.Target{StoreID: storeID, Addr: store.Addr}, Timeout: time.Second,
		})
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		fb := resp.Msg.(*kvrpcpb.GetHealthFeedbackResponse).GetHealthFeedback()
		if fb.GetFeedbackSeqNo() == 0 || fb.GetSlowScore() != 1 || fb.GetStoreId() != storeID {
			t.Fatalf("round %d: feedback %v, want a sequence number, slow score 1 and store %d", round, fb, storeID)
		}
		// The batch stream delivers the store's feedback with responses.
		deadline := time.Now().Add(5 * time.Second)
		for cache.StoreHealth(storeID).ServerSlowScore != 1 {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: client's view of the store's slow score = %d, want 1 from the stream", round, cache.StoreHealth(storeID).ServerSlowScore)
			}
			if _, err := raw.NewClient(cluster).Get(t.Context(), key); err != nil {
				t.Fatal(err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}
