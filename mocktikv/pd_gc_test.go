package mocktikv

import (
	"context"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tikv/pd/client/clients/gc"
	"github.com/tikv/pd/client/constants"
)

// TestGCStateRules checks PD's GC state machine rule by rule. Each step
// runs at t0 plus its offset, so expiry is deterministic.
func TestGCStateRules(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	type step struct {
		name    string
		at      time.Duration
		do      func(g *gcStates, now time.Time) (string, error) // returns an observation
		want    string                                           // expected observation, when no error
		wantErr string                                           // substring of the expected error
	}
	advanceTxn := func(target uint64) func(*gcStates, time.Time) (string, error) {
		return func(g *gcStates, now time.Time) (string, error) {
			r, err := g.advanceTxnSafePoint(target, now)
			blocked := ""
			if r.blockerID != "" {
				blocked = " blocked by " + r.blockerID
			}
			return u(r.old) + " -> " + u(r.new) + blocked, err
		}
	}
	advanceGC := func(target uint64, compatible bool) func(*gcStates, time.Time) (string, error) {
		return func(g *gcStates, _ time.Time) (string, error) {
			old, nw, err := g.advanceGCSafePoint(target, compatible)
			return u(old) + " -> " + u(nw), err
		}
	}
	barrier := func(id string, ts uint64, ttl time.Duration) func(*gcStates, time.Time) (string, error) {
		return func(g *gcStates, now time.Time) (string, error) {
			b, err := g.setBarrier(id, ts, ttl, now)
			return b.id + "@" + u(b.ts), err
		}
	}
	global := func(id string, ts uint64, ttl time.Duration) func(*gcStates, time.Time) (string, error) {
		return func(g *gcStates, now time.Time) (string, error) {
			b, err := g.setGlobalBarrier(id, ts, ttl, now)
			return b.id + "@" + u(b.ts), err
		}
	}
	service := func(id string, sp uint64, ttl int64) func(*gcStates, time.Time) (string, error) {
		return func(g *gcStates, now time.Time) (string, error) {
			m, err := g.updateServiceSafePoint(id, sp, ttl, now)
			return m.serviceID + "@" + u(m.safePoint), err
		}
	}
	never := time.Duration(math.MaxInt64)

	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"txn safe point never goes back", []step{
			{name: "advance", do: advanceTxn(100), want: "0 -> 100"},
			{name: "same again", do: advanceTxn(100), want: "100 -> 100"},
			{name: "backwards", do: advanceTxn(99), wantErr: "ErrDecreasingTxnSafePoint"},
		}},
		{"GC safe point bounded by txn safe point", []step{
			{name: "beyond txn", do: advanceGC(10, false), wantErr: "ErrGCSafePointExceedsTxnSafePoint"},
			{name: "txn", do: advanceTxn(50), want: "0 -> 50"},
			{name: "gc", do: advanceGC(50, false), want: "0 -> 50"},
			{name: "backwards", do: advanceGC(40, false), wantErr: "ErrDecreasingGCSafePoint"},
			{name: "backwards, compatible", do: advanceGC(40, true), want: "50 -> 50"},
		}},
		{"barriers block the txn safe point", []step{
			{name: "barrier", do: barrier("br", 30, time.Minute), want: "br@30"},
			{name: "lower barrier", do: barrier("cdc", 20, never), want: "cdc@20"},
			{name: "advance", do: advanceTxn(100), want: "0 -> 20 blocked by cdc"},
			{name: "barrier behind", do: barrier("late", 10, time.Minute), wantErr: "ErrGCBarrierTSBehindTxnSafePoint"},
			{name: "reserved id", do: barrier("gc_worker", 50, time.Minute), wantErr: "ErrReservedGCBarrierID"},
			{name: "empty id", do: barrier("", 50, time.Minute), wantErr: "ErrInvalidArgument"},
			{name: "zero ttl", do: barrier("x", 50, 0), wantErr: "ErrInvalidArgument"},
			{name: "delete cdc", do: func(g *gcStates, _ time.Time) (string, error) {
				b, ok, err := g.deleteBarrier("cdc")
				if !ok {
					return "", err
				}
				return b.id, err
			}, want: "cdc"},
			{name: "advance to the next barrier", do: advanceTxn(100), want: "20 -> 30 blocked by br"},
			{name: "the barrier expires", at: time.Minute + time.Second, do: advanceTxn(100), want: "30 -> 100"},
		}},
		{"a barrier below the txn safe point holds it still", []step{
			{name: "advance", do: advanceTxn(10), want: "0 -> 10"},
			{name: "barrier", do: barrier("b", 10, never), want: "b@10"},
			{name: "advance", do: advanceTxn(50), want: "10 -> 10 blocked by b"},
		}},
		{"global barriers block every keyspace", []step{
			{name: "global", do: global("br", 40, never), want: "br@40"},
			{name: "advance", do: advanceTxn(100), want: "0 -> 40 blocked by br"},
			{name: "global behind", do: global("late", 10, never), wantErr: "ErrGlobalGCBarrierTSBehindTxnSafePoint"},
		}},
		{"service safe points map to barriers", []step{
			{name: "service", do: service("cdc", 30, 60), want: "gc_worker@0"},
			{name: "gc_worker advances the txn safe point", do: service("gc_worker", 50, math.MaxInt64), want: "cdc@30"},
			{name: "gc_worker needs an infinite TTL", do: service("gc_worker", 50, 10), wantErr: "infinity"},
			{name: "behind the txn safe point is ignored", do: service("late", 10, 60), want: "gc_worker@30"},
			{name: "delete with ttl 0", do: service("cdc", 0, 0), want: "gc_worker@30"},
			{name: "gc_worker unblocked", do: service("gc_worker", 50, math.MaxInt64), want: "gc_worker@50"},
			{name: "native_br is global", do: service("native_br", 60, 60), want: "gc_worker@50"},
			{name: "blocked by native_br", do: service("gc_worker", 70, math.MaxInt64), want: "native_br@60"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGCStates()
			for _, st := range tc.steps {
				got, err := st.do(g, t0.Add(st.at))
				switch {
				case st.wantErr != "":
					if err == nil || !strings.Contains(err.Error(), st.wantErr) {
						t.Fatalf("%s: err %v, want %s", st.name, err, st.wantErr)
					}
				case err != nil:
					t.Fatalf("%s: %v", st.name, err)
				default:
					eq(t, got, st.want, "%s", st.name)
				}
				snap := g.snapshot()
				if snap.gcSafePoint > snap.txnSafePoint {
					t.Fatalf("%s: GC safe point %d passed the txn safe point %d", st.name, snap.gcSafePoint, snap.txnSafePoint)
				}
			}
		})
	}
}

func u(v uint64) string { return strconv.FormatUint(v, 10) }

// TestGCRealPDClient drives the GC-states API through the real PD client:
// the internal controller, the states client, and the deprecated calls.
func TestGCRealPDClient(t *testing.T) {
	c := Start(t, WithKeyspace("ks1"))
	cli := newPDClient(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	states := cli.GetGCStatesClient(constants.NullKeyspaceID)
	ctl := cli.GetGCInternalController(constants.NullKeyspaceID)

	b := must(states.SetGCBarrier(ctx, "backup", 100, time.Hour))(t)
	eq(t, b.BarrierTS, uint64(100), "barrier ts")
	if b.TTL < time.Hour-time.Second || b.TTL > time.Hour {
		t.Fatalf("barrier ttl %v", b.TTL)
	}
	res := must(ctl.AdvanceTxnSafePoint(ctx, 200))(t)
	eq(t, res.NewTxnSafePoint, uint64(100), "blocked txn safe point")
	if !strings.Contains(res.BlockerDescription, `"backup"`) {
		t.Fatalf("blocker %q", res.BlockerDescription)
	}
	gcRes := must(ctl.AdvanceGCSafePoint(ctx, 90))(t)
	eq(t, gcRes.NewGCSafePoint, uint64(90), "GC safe point")
	if _, err := ctl.AdvanceGCSafePoint(ctx, 150); err == nil {
		t.Fatal("GC safe point past the txn safe point: want an error")
	}
	if _, err := ctl.AdvanceTxnSafePoint(ctx, 50); err == nil {
		t.Fatal("txn safe point backwards: want an error")
	}

	st := must(states.GetGCState(ctx, gc.ExcludeGCBarriers(false)))(t)
	eq(t, st.TxnSafePoint, uint64(100), "state txn safe point")
	eq(t, st.GCSafePoint, uint64(90), "state GC safe point")
	barriers := must(st.GetGCBarriers())(t)
	eq(t, len(barriers), 1, "barriers")
	eq(t, barriers[0].BarrierID, "backup", "barrier id")

	// A keyspace without keyspace-level GC reads the unified state and
	// may not drive GC itself.
	ks := c.Keyspaces()[1]
	ksState := must(cli.GetGCStatesClient(ks.GetId()).GetGCState(ctx))(t)
	eq(t, ksState.TxnSafePoint, uint64(100), "keyspace reads the unified state")
	eq(t, ksState.KeyspaceID, constants.NullKeyspaceID, "state's keyspace")
	if _, err := cli.GetGCInternalController(ks.GetId()).AdvanceTxnSafePoint(ctx, 300); err == nil {
		t.Fatal("advancing a keyspace without keyspace-level GC: want an error")
	}
	if _, err := cli.GetGCStatesClient(4242).GetGCState(ctx); err == nil {
		t.Fatal("unknown keyspace: want an error")
	}

	deleted := must(states.DeleteGCBarrier(ctx, "backup"))(t)
	eq(t, deleted.BarrierID, "backup", "deleted barrier")
	if d := must(states.DeleteGCBarrier(ctx, "backup"))(t); d != nil {
		t.Fatalf("deleting a missing barrier: got %v", d)
	}
	eq(t, must(ctl.AdvanceTxnSafePoint(ctx, 300))(t).NewTxnSafePoint, uint64(300), "unblocked")

	// Deprecated calls.
	eq(t, must(cli.UpdateServiceGCSafePoint(ctx, "cdc", 60, 400))(t), uint64(300), "min service safe point")
	eq(t, must(cli.UpdateServiceGCSafePoint(ctx, "gc_worker", math.MaxInt64, 500))(t), uint64(400), "gc_worker blocked by cdc")
	eq(t, must(cli.UpdateGCSafePoint(ctx, 350))(t), uint64(350), "UpdateGCSafePoint")
	eq(t, must(cli.UpdateGCSafePoint(ctx, 10))(t), uint64(350), "UpdateGCSafePoint never goes back")
	if _, err := cli.UpdateGCSafePoint(ctx, 1000); err == nil {
		t.Fatal("UpdateGCSafePoint past the txn safe point: want an error")
	}
	eq(t, c.GCSafePoint(), uint64(350), "Cluster.GCSafePoint")
	eq(t, c.TxnSafePoint(), uint64(400), "Cluster.TxnSafePoint")

	all := must(states.GetAllKeyspacesGCStates(ctx))(t)
	eq(t, all.GCStates[constants.NullKeyspaceID].TxnSafePoint, uint64(400), "all keyspaces' states")
}
