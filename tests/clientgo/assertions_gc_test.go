package clientgo

import (
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	tikverr "github.com/tikv/client-go/v2/error"
	"github.com/tikv/client-go/v2/kv"
	"github.com/tikv/client-go/v2/txnkv"
	"github.com/tikv/pd/client/constants"
)

func TestTxnAssertionsAndGC(t *testing.T) {
	cli, err := txnkv.NewClient([]string{pdAddr(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	t.Run("AssertionStrict", func(t *testing.T) {
		ctx, cancel := ctx10()
		defer cancel()
		txn, _ := cli.Begin()
		txn.Set(k("as"), []byte("1"))
		if err := txn.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		txn, _ = cli.Begin()
		txn.SetAssertionLevel(kvrpcpb.AssertionLevel_Strict)
		txn.GetMemBuffer().SetWithFlags(k("as"), []byte("2"), kv.SetAssertNotExist)
		err := txn.Commit(ctx)
		var ae *tikverr.ErrAssertionFailed
		if err == nil {
			t.Fatalf("assertion NotExist on existing key passed")
		}
		t.Logf("assertion err: %v (typed=%v)", err, asErr(err, &ae))
		if !asErr(err, &ae) {
			t.Errorf("want ErrAssertionFailed, got %T %v", err, err)
		}
		txn, _ = cli.Begin()
		txn.SetAssertionLevel(kvrpcpb.AssertionLevel_Strict)
		txn.GetMemBuffer().SetWithFlags(k("as"), []byte("3"), kv.SetAssertExist)
		txn.GetMemBuffer().SetWithFlags(k("as-new"), []byte("3"), kv.SetAssertNotExist)
		if err := txn.Commit(ctx); err != nil {
			t.Fatalf("correct assertions failed: %v", err)
		}
	})
	t.Run("LockOnlyIfExists", func(t *testing.T) {
		ctx, cancel := ctx10()
		defer cancel()
		txn, _ := cli.Begin()
		txn.SetPessimistic(true)
		// client-go requires the primary to be chosen before LockOnlyIfExists
		if err := txn.LockKeys(ctx, kv.NewLockCtx(txn.StartTS(), kv.LockAlwaysWait, time.Now()), k("as-prim")); err != nil {
			t.Fatal(err)
		}
		lc := kv.NewLockCtx(txn.StartTS(), kv.LockAlwaysWait, time.Now())
		lc.ReturnValues = true
		lc.LockOnlyIfExists = true
		lc.Values = map[string]kv.ReturnedValue{}
		if err := txn.LockKeys(ctx, lc, k("as"), k("as-missing")); err != nil {
			t.Fatalf("LockKeys LockOnlyIfExists: %v", err)
		}
		t.Logf("values: as=%+v missing=%+v", lc.Values[string(k("as"))], lc.Values[string(k("as-missing"))])
		// the missing key must not be locked: another txn can lock it with no-wait
		t2, _ := cli.Begin()
		t2.SetPessimistic(true)
		if err := t2.LockKeys(ctx, kv.NewLockCtx(t2.StartTS(), kv.LockNoWait, time.Now()), k("as-missing")); err != nil {
			t.Errorf("missing key was locked by LockOnlyIfExists: %v", err)
		}
		if err := t2.LockKeys(ctx, kv.NewLockCtx(t2.StartTS(), kv.LockNoWait, time.Now()), k("as")); err == nil {
			t.Errorf("existing key was not locked by LockOnlyIfExists")
		}
		t2.Rollback()
		txn.Rollback()
	})
	t.Run("GCStates", func(t *testing.T) {
		ctx, cancel := ctx10()
		defer cancel()
		ts, _ := cli.GetTimestamp(ctx)
		sp, err := cli.GC(ctx, ts)
		if err != nil {
			t.Fatalf("GC: %v", err)
		}
		st, err := cli.GetPDClient().GetGCStatesClient(constants.NullKeyspaceID).GetGCState(ctx)
		if err != nil {
			t.Fatalf("GetGCState: %v", err)
		}
		t.Logf("GC returned %d; state: txnSP=%d gcSP=%d", sp, st.TxnSafePoint, st.GCSafePoint)
		if st.TxnSafePoint != ts || st.GCSafePoint != ts {
			t.Errorf("GC state mismatch")
		}
		// going backwards must not lower the safe point
		sp2, err := cli.GC(ctx, ts-1000)
		t.Logf("GC backwards: %d %v", sp2, err)
		st2, _ := cli.GetPDClient().GetGCStatesClient(constants.NullKeyspaceID).GetGCState(ctx)
		if st2.TxnSafePoint < ts {
			t.Errorf("txn safe point went backwards: %d", st2.TxnSafePoint)
		}
	})
}

func asErr[T error](err error, target *T) bool {
	for e := err; e != nil; {
		if v, ok := e.(T); ok {
			*target = v
			return true
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			c, ok2 := e.(interface{ Cause() error })
			if !ok2 {
				return false
			}
			e = c.Cause()
			continue
		}
		e = u.Unwrap()
	}
	return false
}
