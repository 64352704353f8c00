package mocktikv

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tikv/pd/client/clients/gc"
	"github.com/tikv/pd/client/constants"
)

// gcPD is the part of pd.Client (and of the in-process PD) the GC script
// drives.
type gcPD interface {
	GetGCStatesClient(keyspaceID uint32) gc.GCStatesClient
	GetGCInternalController(keyspaceID uint32) gc.InternalController
}

// gcTranscript runs one script of GC-state calls and writes down every
// answer (barrier TTLs to the hour, errors by text), so that two PDs can
// be compared answer by answer.
func gcTranscript(ctx context.Context, p gcPD, ks uint32) []string {
	var out []string
	note := func(what string, v any, err error) {
		if err != nil {
			// pd/client wraps the header error with a stack; its text is
			// the header's.
			out = append(out, fmt.Sprintf("%s: error %s", what, err.Error()))
			return
		}
		out = append(out, fmt.Sprintf("%s: %+v", what, v))
	}
	barrier := func(b *gc.GCBarrierInfo) string {
		if b == nil {
			return "<nil>"
		}
		return fmt.Sprintf("%s@%d ttl~%v", b.BarrierID, b.BarrierTS, b.TTL.Round(time.Hour))
	}
	state := func(s gc.GCState) string {
		str := fmt.Sprintf("ks=%d txn=%d gc=%d", s.KeyspaceID, s.TxnSafePoint, s.GCSafePoint)
		if s.HasGCBarriers() {
			bs, _ := s.GetGCBarriers()
			for _, b := range bs {
				str += " " + barrier(b)
			}
		}
		return str
	}
	// A blocker's description ends in its expiration time, which differs
	// between two runs; the rest must match.
	advance := func(r gc.AdvanceTxnSafePointResult) gc.AdvanceTxnSafePointResult {
		r.BlockerDescription, _, _ = strings.Cut(r.BlockerDescription, ", ExpirationTime")
		return r
	}
	null := constants.NullKeyspaceID
	states, ctl := p.GetGCStatesClient(null), p.GetGCInternalController(null)

	b, err := states.SetGCBarrier(ctx, "backup", 100, time.Hour)
	note("set barrier", barrier(b), err)
	_, err = states.SetGCBarrier(ctx, "gc_worker", 100, time.Hour)
	note("reserved barrier id", nil, err)
	r, err := ctl.AdvanceTxnSafePoint(ctx, 200)
	note("advance txn safe point", advance(r), err)
	g, err := ctl.AdvanceGCSafePoint(ctx, 90)
	note("advance GC safe point", g, err)
	_, err = ctl.AdvanceGCSafePoint(ctx, 150)
	note("GC safe point past the txn safe point", nil, err)
	_, err = ctl.AdvanceTxnSafePoint(ctx, 50)
	note("txn safe point backwards", nil, err)
	st, err := states.GetGCState(ctx)
	note("state", state(st), err)
	st, err = states.GetGCState(ctx, gc.ExcludeGCBarriers(false))
	note("state with barriers", state(st), err)
	st, err = p.GetGCStatesClient(ks).GetGCState(ctx)
	note("keyspace state", state(st), err)
	_, err = p.GetGCInternalController(ks).AdvanceTxnSafePoint(ctx, 300)
	note("advance a keyspace without keyspace-level GC", nil, err)
	_, err = p.GetGCStatesClient(4242).GetGCState(ctx)
	note("unknown keyspace", nil, err)
	gb, err := states.SetGlobalGCBarrier(ctx, "br", 120, time.Hour)
	if gb != nil {
		note("set global barrier", fmt.Sprintf("%s@%d", gb.BarrierID, gb.BarrierTS), err)
	} else {
		note("set global barrier", nil, err)
	}
	all, err := states.GetAllKeyspacesGCStates(ctx, gc.ExcludeGlobalGCBarriers(false))
	var global []string
	if gbs, gerr := all.GetGlobalGCBarriers(); gerr == nil {
		for _, b := range gbs {
			global = append(global, fmt.Sprintf("%s@%d", b.BarrierID, b.BarrierTS))
		}
	}
	note("all states", fmt.Sprintf("%s global=%v", state(all.GCStates[null]), global), err)
	d, err := states.DeleteGCBarrier(ctx, "backup")
	note("delete barrier", barrier(d), err)
	d, err = states.DeleteGCBarrier(ctx, "backup")
	note("delete missing barrier", barrier(d), err)
	dg, err := states.DeleteGlobalGCBarrier(ctx, "br")
	note("delete global barrier", dg != nil, err)
	r, err = ctl.AdvanceTxnSafePoint(ctx, 300)
	note("unblocked advance", r, err)
	return out
}

// TestGCStatesInProcessMatchesGRPC runs the same GC-state script on the
// in-process PD and, on another cluster, through pd/client over gRPC: the
// two must answer alike, errors included, since the in-process PD stands
// for the real one (STYLE.md 16).
func TestGCStatesInProcessMatchesGRPC(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	local := NewCluster(WithKeyspace("ks1"))
	defer local.Close()
	lp, ok := local.PD().(gcPD)
	if !ok {
		t.Fatal("the in-process PD has no GC internal controller")
	}
	got := gcTranscript(ctx, lp, local.Keyspaces()[1].GetId())

	remote := Start(t, WithKeyspace("ks1"))
	want := gcTranscript(ctx, newPDClient(t, remote), remote.Keyspaces()[1].GetId())

	if !slices.Equal(got, want) {
		t.Fatalf("in-process PD:\n%s\ngRPC PD:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The script reaches the states it means to: blocked, then unblocked.
	for _, line := range []string{
		"advance txn safe point: {OldTxnSafePoint:0 Target:200 NewTxnSafePoint:100",
		"state: ks=4294967295 txn=100 gc=90",
		"unblocked advance: {OldTxnSafePoint:100 Target:300 NewTxnSafePoint:300",
	} {
		if !slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, line) }) {
			t.Errorf("transcript lacks %q:\n%s", line, strings.Join(got, "\n"))
		}
	}
	eq(t, local.TxnSafePoint(), uint64(300), "in-process txn safe point")
}

// TestGCStatesInProcessFaults: scripted PD faults hit the in-process GC
// calls under the gRPC method names, as they hit the gRPC service.
func TestGCStatesInProcessFaults(t *testing.T) {
	c := NewCluster()
	defer c.Close()
	boom := fmt.Errorf("pd down")
	c.FailPD("GetGCState", boom, 1)
	if _, err := c.PD().GetGCStatesClient(constants.NullKeyspaceID).GetGCState(context.Background()); err == nil || !strings.Contains(err.Error(), "pd down") {
		t.Fatalf("scripted failure: got %v", err)
	}
	st := must(c.PD().GetGCStatesClient(constants.NullKeyspaceID).GetGCState(context.Background()))(t)
	eq(t, st.TxnSafePoint, uint64(0), "after the fault")
}
