package mocktikv

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tikv/pd/client/clients/gc"
	"github.com/tikv/pd/client/constants"
)

// keyspaceGCScript drives the GC states of a cluster with keyspaces ks1
// (unified GC) and ks2 (keyspace-level GC) through p and checks PD's
// keyspace-level GC rules (pkg/gc/gc_state_manager.go): ks2's states are
// its own, ks1's are the null keyspace's, only ks2 and the null keyspace
// may be driven, and global barriers span every keyspace.
func keyspaceGCScript(t *testing.T, p gcPD, ks1, ks2 uint32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	state := func(ks uint32) gc.GCState {
		t.Helper()
		return must(p.GetGCStatesClient(ks).GetGCState(ctx))(t)
	}

	// The null keyspace's advance is seen by ks1, not by ks2.
	eq(t, must(p.GetGCInternalController(constants.NullKeyspaceID).AdvanceTxnSafePoint(ctx, 100))(t).NewTxnSafePoint, uint64(100), "null advance")
	eq(t, state(ks1).TxnSafePoint, uint64(100), "unified keyspace sees the null keyspace's")
	eq(t, state(ks1).KeyspaceID, constants.NullKeyspaceID, "unified keyspace's states are the null keyspace's")
	eq(t, state(ks2).TxnSafePoint, uint64(0), "keyspace-level keyspace does not")
	eq(t, state(ks2).KeyspaceID, ks2, "keyspace-level keyspace's states are its own")

	// ks2's own advance is seen by ks2 only; ks1 may not be driven.
	eq(t, must(p.GetGCInternalController(ks2).AdvanceTxnSafePoint(ctx, 300))(t).NewTxnSafePoint, uint64(300), "ks2 advance")
	eq(t, must(p.GetGCInternalController(ks2).AdvanceGCSafePoint(ctx, 250))(t).NewGCSafePoint, uint64(250), "ks2 GC safe point")
	eq(t, state(ks2).TxnSafePoint, uint64(300), "ks2 sees its own")
	eq(t, state(ks2).GCSafePoint, uint64(250), "ks2 GC safe point")
	eq(t, state(constants.NullKeyspaceID).TxnSafePoint, uint64(100), "null keyspace does not see ks2's")
	eq(t, state(constants.NullKeyspaceID).GCSafePoint, uint64(0), "nor its GC safe point")
	if _, err := p.GetGCInternalController(ks1).AdvanceTxnSafePoint(ctx, 500); err == nil || !strings.Contains(err.Error(), "ErrGCOnInvalidKeyspace") {
		t.Fatalf("driving a unified-GC keyspace: %v, want ErrGCOnInvalidKeyspace", err)
	}

	// A barrier of ks2 holds back ks2 only.
	must(p.GetGCStatesClient(ks2).SetGCBarrier(ctx, "ks2-backup", 350, time.Hour))(t)
	eq(t, must(p.GetGCInternalController(ks2).AdvanceTxnSafePoint(ctx, 400))(t).NewTxnSafePoint, uint64(350), "ks2 held by its barrier")
	eq(t, must(p.GetGCInternalController(constants.NullKeyspaceID).AdvanceTxnSafePoint(ctx, 400))(t).NewTxnSafePoint, uint64(400), "null not held by ks2's barrier")
	// A barrier set through ks1 lands in the unified states.
	must(p.GetGCStatesClient(ks1).SetGCBarrier(ctx, "ks1-backup", 450, time.Hour))(t)
	eq(t, must(p.GetGCInternalController(constants.NullKeyspaceID).AdvanceTxnSafePoint(ctx, 500))(t).NewTxnSafePoint, uint64(450), "null held by ks1's barrier")
	eq(t, must(p.GetGCInternalController(ks2).AdvanceTxnSafePoint(ctx, 400))(t).NewTxnSafePoint, uint64(350), "ks2 unaffected")
	must(p.GetGCStatesClient(ks2).DeleteGCBarrier(ctx, "ks2-backup"))(t)

	// A global barrier holds back every keyspace, and may not be behind
	// any keyspace's txn safe point.
	if _, err := p.GetGCStatesClient(constants.NullKeyspaceID).SetGlobalGCBarrier(ctx, "br", 360, time.Hour); err == nil ||
		!strings.Contains(err.Error(), "ErrGlobalGCBarrierTSBehindTxnSafePoint") || !strings.Contains(err.Error(), "keyspace <null_keyspace>") {
		t.Fatalf("global barrier behind the null keyspace: %v", err)
	}
	must(p.GetGCInternalController(ks2).AdvanceTxnSafePoint(ctx, 460))(t)
	if _, err := p.GetGCStatesClient(constants.NullKeyspaceID).SetGlobalGCBarrier(ctx, "br", 455, time.Hour); err == nil ||
		!strings.Contains(err.Error(), "keyspace ks2") {
		t.Fatalf("global barrier behind ks2: %v", err)
	}
	must(p.GetGCStatesClient(constants.NullKeyspaceID).SetGlobalGCBarrier(ctx, "br", 470, time.Hour))(t)
	eq(t, must(p.GetGCInternalController(ks2).AdvanceTxnSafePoint(ctx, 600))(t).NewTxnSafePoint, uint64(470), "ks2 held by the global barrier")
	must(p.GetGCStatesClient(ks1).DeleteGCBarrier(ctx, "ks1-backup"))(t)
	eq(t, must(p.GetGCInternalController(constants.NullKeyspaceID).AdvanceTxnSafePoint(ctx, 600))(t).NewTxnSafePoint, uint64(470), "null held by the global barrier")

	all := must(p.GetGCStatesClient(constants.NullKeyspaceID).GetAllKeyspacesGCStates(ctx, gc.ExcludeGlobalGCBarriers(false)))(t)
	eq(t, len(all.GCStates), 2, "the null keyspace's and ks2's states")
	eq(t, all.GCStates[ks2].TxnSafePoint, uint64(470), "ks2 in the cluster's states")
	eq(t, all.GCStates[constants.NullKeyspaceID].TxnSafePoint, uint64(470), "null in the cluster's states")
	eq(t, len(must(all.GetGlobalGCBarriers())(t)), 1, "global barriers")
}

// TestKeyspaceLevelGC runs keyspaceGCScript on the in-process PD and
// through pd/client over gRPC.
func TestKeyspaceLevelGC(t *testing.T) {
	for _, grpc := range []bool{false, true} {
		t.Run(fmt.Sprintf("grpc=%v", grpc), func(t *testing.T) {
			opts := []Option{WithKeyspace("ks1"), WithKeyspaceLevelGC("ks2")}
			var c *Cluster
			var p gcPD
			if grpc {
				c = Start(t, opts...)
				p = newPDClient(t, c)
			} else {
				c = NewCluster(opts...)
				defer c.Close()
				p = c.PD().(gcPD)
			}
			ks := c.Keyspaces()
			eq(t, len(ks), 3, "keyspaces")
			eq(t, ks[1].GetName(), "ks1", "ks1")
			eq(t, ks[2].GetName(), "ks2", "ks2")
			eq(t, ks[1].GetConfig()[GCManagementTypeKey], "", "ks1 has no GC mode (unified)")
			eq(t, ks[2].GetConfig()[GCManagementTypeKey], KeyspaceLevelGC, "ks2's GC mode")
			keyspaceGCScript(t, p, ks[1].GetId(), ks[2].GetId())
			got, ok := c.KeyspaceTxnSafePoint(ks[2].GetId())
			eq(t, ok, true, "ks2 known")
			eq(t, got, uint64(470), "ks2's txn safe point")
			got, _ = c.KeyspaceTxnSafePoint(ks[1].GetId())
			eq(t, got, c.TxnSafePoint(), "ks1's is the unified one")
		})
	}
}
