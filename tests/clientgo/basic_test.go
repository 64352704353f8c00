// Package clientgo runs tikv/client-go, the official Go client, against
// cmd/mocktikv: the mock is meant to be faithful enough that other clients
// work on it unchanged. Each test checks what client-go's API returns
// (values, typed errors, lock waits, GC state) against mocks started by
// run.sh (`make test-clientgo`); a test whose mock is not configured skips
// and says which one it needs.
package clientgo

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	tikverr "github.com/tikv/client-go/v2/error"
	"github.com/tikv/client-go/v2/kv"
	"github.com/tikv/client-go/v2/oracle"
	"github.com/tikv/client-go/v2/rawkv"
	"github.com/tikv/client-go/v2/tikv"
	"github.com/tikv/client-go/v2/tikvrpc"
	"github.com/tikv/client-go/v2/txnkv"
)

var prefix = fmt.Sprintf("smoke-%d-", time.Now().UnixNano())

func k(s string) []byte { return []byte(prefix + s) }

func pdAddr(t *testing.T) string {
	a := os.Getenv("MOCK_PD")
	if a == "" {
		t.Skip("MOCK_PD not set")
	}
	return a
}

func ctx10() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 10*time.Second)
}

// ---------------- rawkv ----------------

func TestRaw(t *testing.T) {
	ctx, cancel := ctx10()
	defer cancel()
	cli, err := rawkv.NewClientWithOpts(ctx, []string{pdAddr(t)})
	if err != nil {
		t.Fatalf("NewClientWithOpts: %v", err)
	}
	defer cli.Close()

	t.Run("PutGet", func(t *testing.T) {
		ctx, cancel := ctx10()
		defer cancel()
		if err := cli.Put(ctx, k("r1"), []byte("v1")); err != nil {
			t.Fatalf("Put: %v", err)
		}
		v, err := cli.Get(ctx, k("r1"))
		if err != nil || string(v) != "v1" {
			t.Fatalf("Get: %q %v", v, err)
		}
		v, err = cli.Get(ctx, k("r-missing"))
		if err != nil || v != nil {
			t.Fatalf("Get missing: %q %v", v, err)
		}
	})
	t.Run("BatchPutGet", func(t *testing.T) {
		ctx, cancel := ctx10()
		defer cancel()
		keys := [][]byte{k("rb1"), k("rb2"), k("rb3")}
		vals := [][]byte{[]byte("a"), []byte("b"), []byte("c")}
		if err := cli.BatchPut(ctx, keys, vals); err != nil {
			t.Fatalf("BatchPut: %v", err)
		}
		got, err := cli.BatchGet(ctx, append(keys, k("rb-missing")))
		if err != nil {
			t.Fatalf("BatchGet: %v", err)
		}
		for i := range keys {
			if !bytes.Equal(got[i], vals[i]) {
				t.Fatalf("BatchGet[%d]=%q", i, got[i])
			}
		}
		if got[3] != nil {
			t.Fatalf("BatchGet missing = %q", got[3])
		}
	})
	t.Run("DeleteBatchDelete", func(t *testing.T) {
		ctx, cancel := ctx10()
		defer cancel()
		if err := cli.Delete(ctx, k("r1")); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if v, err := cli.Get(ctx, k("r1")); err != nil || v != nil {
			t.Fatalf("Get after delete: %q %v", v, err)
		}
		if err := cli.BatchDelete(ctx, [][]byte{k("rb1"), k("rb2")}); err != nil {
			t.Fatalf("BatchDelete: %v", err)
		}
		got, err := cli.BatchGet(ctx, [][]byte{k("rb1"), k("rb2"), k("rb3")})
		if err != nil || got[0] != nil || got[1] != nil || string(got[2]) != "c" {
			t.Fatalf("BatchGet after BatchDelete: %q %v", got, err)
		}
	})
	t.Run("ScanReverseScanDeleteRange", func(t *testing.T) {
		ctx, cancel := ctx10()
		defer cancel()
		var keys, vals [][]byte
		for i := 0; i < 10; i++ {
			keys = append(keys, k(fmt.Sprintf("s%02d", i)))
			vals = append(vals, []byte(fmt.Sprintf("v%02d", i)))
		}
		if err := cli.BatchPut(ctx, keys, vals); err != nil {
			t.Fatalf("BatchPut: %v", err)
		}
		ks, vs, err := cli.Scan(ctx, k("s"), k("t"), 5)
		if err != nil || len(ks) != 5 || !bytes.Equal(ks[0], keys[0]) || !bytes.Equal(vs[4], vals[4]) {
			t.Fatalf("Scan: %q %q %v", ks, vs, err)
		}
		ks, _, err = cli.Scan(ctx, k("s"), k("t"), 100, rawkv.ScanKeyOnly())
		if err != nil || len(ks) != 10 {
			t.Fatalf("Scan keyonly: %d %v", len(ks), err)
		}
		// ReverseScan: startKey is the upper bound (exclusive), endKey lower bound
		ks, vs, err = cli.ReverseScan(ctx, k("t"), k("s"), 3)
		if err != nil || len(ks) != 3 || !bytes.Equal(ks[0], keys[9]) || !bytes.Equal(vs[2], vals[7]) {
			t.Fatalf("ReverseScan: %q %q %v", ks, vs, err)
		}
		if err := cli.DeleteRange(ctx, k("s03"), k("s07")); err != nil {
			t.Fatalf("DeleteRange: %v", err)
		}
		ks, _, err = cli.Scan(ctx, k("s"), k("t"), 100)
		if err != nil || len(ks) != 6 {
			t.Fatalf("Scan after DeleteRange: %q %v", ks, err)
		}
	})
	t.Run("CompareAndSwap", func(t *testing.T) {
		ctx, cancel := ctx10()
		defer cancel()
		cli.SetAtomicForCAS(true)
		defer cli.SetAtomicForCAS(false)
		key := k("cas")
		prev, ok, err := cli.CompareAndSwap(ctx, key, nil, []byte("x"))
		if err != nil || !ok || prev != nil {
			t.Fatalf("CAS from empty: prev=%q ok=%v err=%v", prev, ok, err)
		}
		prev, ok, err = cli.CompareAndSwap(ctx, key, []byte("wrong"), []byte("y"))
		if err != nil || ok || string(prev) != "x" {
			t.Fatalf("CAS mismatched: prev=%q ok=%v err=%v", prev, ok, err)
		}
		prev, ok, err = cli.CompareAndSwap(ctx, key, []byte("x"), []byte("y"))
		if err != nil || !ok || string(prev) != "x" {
			t.Fatalf("CAS matched: prev=%q ok=%v err=%v", prev, ok, err)
		}
		v, err := cli.Get(ctx, key)
		if err != nil || string(v) != "y" {
			t.Fatalf("Get after CAS: %q %v", v, err)
		}
	})
	t.Run("Checksum", func(t *testing.T) {
		ctx, cancel := ctx10()
		defer cancel()
		cs, err := cli.Checksum(ctx, k("s"), k("t"))
		if err != nil || cs.TotalKvs != 6 {
			t.Fatalf("Checksum: %+v %v", cs, err)
		}
	})
	t.Run("TTL", func(t *testing.T) {
		ctx, cancel := ctx10()
		defer cancel()
		err := cli.PutWithTTL(ctx, k("ttl"), []byte("v"), 100)
		ttl, err2 := cli.GetKeyTTL(ctx, k("ttl"))
		t.Logf("on default (v1) mock: PutWithTTL err=%v; GetKeyTTL=%v err=%v", err, ttl, err2)
	})
}

func TestRawTTL(t *testing.T) {
	addr := os.Getenv("MOCK_PD_TTL")
	if addr == "" {
		t.Skip("MOCK_PD_TTL not set")
	}
	ctx, cancel := ctx10()
	defer cancel()
	cli, err := rawkv.NewClientWithOpts(ctx, []string{addr})
	if err != nil {
		t.Fatalf("NewClientWithOpts: %v", err)
	}
	defer cli.Close()
	if err := cli.PutWithTTL(ctx, k("ttl"), []byte("v"), 100); err != nil {
		t.Fatalf("PutWithTTL: %v", err)
	}
	ttl, err := cli.GetKeyTTL(ctx, k("ttl"))
	if err != nil || ttl == nil || *ttl == 0 || *ttl > 100 {
		t.Fatalf("GetKeyTTL: %v %v", ttl, err)
	}
	if err := cli.PutWithTTL(ctx, k("ttl2"), []byte("v"), 1); err != nil {
		t.Fatalf("PutWithTTL 1s: %v", err)
	}
	time.Sleep(2100 * time.Millisecond)
	v, err := cli.Get(ctx, k("ttl2"))
	if err != nil || v != nil {
		t.Fatalf("Get expired key: %q %v", v, err)
	}
}

// ---------------- txnkv ----------------

func TestTxn(t *testing.T) {
	cli, err := txnkv.NewClient([]string{pdAddr(t)})
	if err != nil {
		t.Fatalf("txnkv.NewClient: %v", err)
	}
	defer cli.Close()

	put := func(t *testing.T, kvs ...string) uint64 {
		txn, err := cli.Begin()
		if err != nil {
			t.Fatalf("Begin: %v", err)
		}
		for i := 0; i < len(kvs); i += 2 {
			if err := txn.Set(k(kvs[i]), []byte(kvs[i+1])); err != nil {
				t.Fatalf("Set: %v", err)
			}
		}
		ctx, cancel := ctx10()
		defer cancel()
		if err := txn.Commit(ctx); err != nil {
			t.Fatalf("Commit: %v", err)
		}
		return txn.CommitTS()
	}
	get := func(t *testing.T, key string) ([]byte, error) {
		txn, err := cli.Begin()
		if err != nil {
			t.Fatalf("Begin: %v", err)
		}
		ctx, cancel := ctx10()
		defer cancel()
		e, err := txn.Get(ctx, k(key))
		return e.Value, err
	}

	t.Run("GetTimestamp", func(t *testing.T) {
		ctx, cancel := ctx10()
		defer cancel()
		ts1, err := cli.GetTimestamp(ctx)
		if err != nil {
			t.Fatalf("GetTimestamp: %v", err)
		}
		ts2, err := cli.GetOracle().GetTimestamp(ctx, &oracle.Option{TxnScope: oracle.GlobalTxnScope})
		if err != nil || ts2 <= ts1 {
			t.Fatalf("oracle GetTimestamp: %d <= %d, %v", ts2, ts1, err)
		}
		t.Logf("ts1=%d physical=%v", ts1, oracle.GetTimeFromTS(ts1))
	})
	t.Run("BasicSetGetDeleteIter", func(t *testing.T) {
		put(t, "q1a", "1", "q1b", "2", "q1c", "3")
		if v, err := get(t, "q1b"); err != nil || string(v) != "2" {
			t.Fatalf("Get: %q %v", v, err)
		}
		if _, err := get(t, "missing"); !tikverr.IsErrNotFound(err) {
			t.Fatalf("Get missing: want not found, got %v", err)
		}
		txn, _ := cli.Begin()
		txn.Delete(k("q1b"))
		ctx, cancel := ctx10()
		defer cancel()
		if err := txn.Commit(ctx); err != nil {
			t.Fatalf("Commit delete: %v", err)
		}
		if _, err := get(t, "q1b"); !tikverr.IsErrNotFound(err) {
			t.Fatalf("Get deleted: want not found, got %v", err)
		}
		txn, _ = cli.Begin()
		it, err := txn.Iter(k("q1"), k("q2"))
		if err != nil {
			t.Fatalf("Iter: %v", err)
		}
		var got []string
		for it.Valid() {
			got = append(got, string(it.Key())[len(prefix):]+"="+string(it.Value()))
			if err := it.Next(); err != nil {
				t.Fatalf("Next: %v", err)
			}
		}
		it.Close()
		if fmt.Sprint(got) != "[q1a=1 q1c=3]" {
			t.Fatalf("Iter got %v", got)
		}
		itr, err := txn.IterReverse(k("q2"), k("q1"))
		if err != nil {
			t.Fatalf("IterReverse: %v", err)
		}
		got = nil
		for itr.Valid() {
			got = append(got, string(itr.Key())[len(prefix):])
			itr.Next()
		}
		itr.Close()
		if fmt.Sprint(got) != "[q1c q1a]" {
			t.Fatalf("IterReverse got %v", got)
		}
	})
	t.Run("SplitRegionsAndMultiRegionCommit", func(t *testing.T) {
		ctx, cancel := ctx10()
		defer cancel()
		splits := [][]byte{k("m10"), k("m20"), k("m30")}
		ids, err := cli.SplitRegions(ctx, splits, false, nil)
		if err != nil {
			t.Fatalf("SplitRegions: %v", err)
		}
		t.Logf("SplitRegions -> %v", ids)
		// PD view (through the codec PD client: keys are user keys)
		regs, err := cli.GetPDClient().ScanRegions(ctx, k("m00"), k("m99"), 100)
		if err != nil {
			t.Fatalf("PD ScanRegions: %v", err)
		}
		t.Logf("PD ScanRegions after split: %d regions", len(regs))
		for _, r := range regs {
			t.Logf("  region %d [%q, %q) epoch %v", r.Meta.Id, r.Meta.StartKey, r.Meta.EndKey, r.Meta.RegionEpoch)
		}
		if len(regs) < 4 {
			t.Errorf("PD ScanRegions: expected >=4 regions, got %d", len(regs))
		}
		bo := tikv.NewBackofferWithVars(ctx, 5000, nil)
		locs, err := cli.GetRegionCache().LocateKeyRange(bo, k("m00"), k("m99"))
		if err != nil {
			t.Fatalf("LocateKeyRange: %v", err)
		}
		t.Logf("region cache (possibly stale) sees %d regions", len(locs))
		var kvs []string
		for i := 0; i < 40; i++ {
			kvs = append(kvs, fmt.Sprintf("m%02d", i), fmt.Sprintf("val%d", i))
		}
		put(t, kvs...)
		locs, err = cli.GetRegionCache().LocateKeyRange(tikv.NewBackofferWithVars(ctx, 5000, nil), k("m00"), k("m99"))
		t.Logf("region cache after multi-key commit sees %d regions (%v)", len(locs), err)
		if len(locs) < 4 {
			t.Errorf("region cache still sees %d regions after commit", len(locs))
		}
		txn, _ := cli.Begin()
		var keys [][]byte
		for i := 0; i < 40; i++ {
			keys = append(keys, k(fmt.Sprintf("m%02d", i)))
		}
		m, err := txn.BatchGet(ctx, keys)
		if err != nil || len(m) != 40 {
			t.Fatalf("BatchGet across regions: %d %v", len(m), err)
		}
		it, err := txn.Iter(k("m"), k("n"))
		if err != nil {
			t.Fatalf("Iter: %v", err)
		}
		n := 0
		for it.Valid() {
			n++
			it.Next()
		}
		if n != 40 {
			t.Fatalf("Iter across regions got %d", n)
		}
	})
	t.Run("WriteConflict", func(t *testing.T) {
		t1, _ := cli.Begin()
		t2, _ := cli.Begin()
		t1.Set(k("wc"), []byte("1"))
		t2.Set(k("wc"), []byte("2"))
		ctx, cancel := ctx10()
		defer cancel()
		if err := t1.Commit(ctx); err != nil {
			t.Fatalf("t1 Commit: %v", err)
		}
		err := t2.Commit(ctx)
		if err == nil {
			t.Fatalf("t2 Commit succeeded, expected write conflict")
		}
		if !tikverr.IsErrWriteConflict(err) {
			t.Errorf("t2 error is not ErrWriteConflict: %v", err)
		}
		t.Logf("t2 err: %v", err)
	})
	t.Run("AsyncCommit", func(t *testing.T) {
		txn, _ := cli.Begin()
		txn.SetEnableAsyncCommit(true)
		for i := 0; i < 5; i++ {
			txn.Set(k(fmt.Sprintf("ac%d", i)), []byte("v"))
		}
		txn.Set(k("m05"), []byte("async")) // another region
		ctx, cancel := ctx10()
		defer cancel()
		if err := txn.Commit(ctx); err != nil {
			t.Fatalf("Commit: %v", err)
		}
		if v, err := get(t, "m05"); err != nil || string(v) != "async" {
			t.Fatalf("Get: %q %v", v, err)
		}
		if v, err := get(t, "ac3"); err != nil || string(v) != "v" {
			t.Fatalf("Get: %q %v", v, err)
		}
	})
	t.Run("OnePC", func(t *testing.T) {
		txn, _ := cli.Begin()
		txn.SetEnable1PC(true)
		txn.Set(k("1pc"), []byte("v"))
		ctx, cancel := ctx10()
		defer cancel()
		if err := txn.Commit(ctx); err != nil {
			t.Fatalf("Commit: %v", err)
		}
		if v, err := get(t, "1pc"); err != nil || string(v) != "v" {
			t.Fatalf("Get: %q %v", v, err)
		}
		if txn.CommitTS() == 0 {
			t.Fatalf("no commit ts")
		}
	})
	t.Run("Pessimistic", func(t *testing.T) {
		put(t, "p1", "orig")
		ctx, cancel := ctx10()
		defer cancel()
		t1, _ := cli.Begin()
		t1.SetPessimistic(true)
		lc := kv.NewLockCtx(t1.StartTS(), kv.LockAlwaysWait, time.Now())
		if err := t1.LockKeys(ctx, lc, k("p1"), k("m15")); err != nil {
			t.Fatalf("t1 LockKeys: %v", err)
		}
		t1.Set(k("p1"), []byte("t1"))

		// t2 must wait for t1
		t2, _ := cli.Begin()
		t2.SetPessimistic(true)
		var wg sync.WaitGroup
		var t2err error
		var t2done time.Time
		wg.Add(1)
		go func() {
			defer wg.Done()
			ts, err := cli.GetTimestamp(ctx)
			if err != nil {
				t2err = err
				return
			}
			lc2 := kv.NewLockCtx(ts, 5000, time.Now())
			t2err = t2.LockKeys(ctx, lc2, k("p1"))
			t2done = time.Now()
		}()
		time.Sleep(500 * time.Millisecond)
		t1commit := time.Now()
		if err := t1.Commit(ctx); err != nil {
			t.Fatalf("t1 Commit: %v", err)
		}
		wg.Wait()
		if t2done.Before(t1commit) {
			t.Fatalf("t2 LockKeys returned before t1 committed (no lock wait): %v", t2err)
		}
		t.Logf("t2 waited %v; first LockKeys result: %v", t2done.Sub(t1commit), t2err)
		if t2err != nil {
			// TiKV normal wake-up mode: after the waiter wakes, a newer commit ⇒ WriteConflict(PessimisticRetry).
			// TiDB retries with a fresh for_update_ts.
			if !tikverr.IsErrWriteConflict(t2err) {
				t.Fatalf("t2 LockKeys: want nil or WriteConflict, got %v", t2err)
			}
			ts, _ := cli.GetTimestamp(ctx)
			if err := t2.LockKeys(ctx, kv.NewLockCtx(ts, 5000, time.Now()), k("p1")); err != nil {
				t.Fatalf("t2 LockKeys retry: %v", err)
			}
		}
		t2.Set(k("p1"), []byte("t2"))
		if err := t2.Commit(ctx); err != nil {
			t.Fatalf("t2 Commit: %v", err)
		}
		if v, err := get(t, "p1"); err != nil || string(v) != "t2" {
			t.Fatalf("Get: %q %v", v, err)
		}
	})
	t.Run("PessimisticNoWait", func(t *testing.T) {
		ctx, cancel := ctx10()
		defer cancel()
		t1, _ := cli.Begin()
		t1.SetPessimistic(true)
		if err := t1.LockKeys(ctx, kv.NewLockCtx(t1.StartTS(), kv.LockAlwaysWait, time.Now()), k("pn")); err != nil {
			t.Fatalf("t1 LockKeys: %v", err)
		}
		t2, _ := cli.Begin()
		t2.SetPessimistic(true)
		err := t2.LockKeys(ctx, kv.NewLockCtx(t2.StartTS(), kv.LockNoWait, time.Now()), k("pn"))
		if err == nil {
			t.Fatalf("t2 NoWait LockKeys succeeded on locked key")
		}
		t.Logf("nowait err: %v", err)
		t1.Rollback()
		t2.Rollback()
	})
	t.Run("SnapshotReadOldTS", func(t *testing.T) {
		put(t, "snap", "old")
		ctx, cancel := ctx10()
		defer cancel()
		ts, _ := cli.GetTimestamp(ctx)
		put(t, "snap", "new")
		e, err := cli.GetSnapshot(ts).Get(ctx, k("snap"))
		if err != nil || string(e.Value) != "old" {
			t.Fatalf("snapshot Get: %q %v", e.Value, err)
		}
		if v, _ := get(t, "snap"); string(v) != "new" {
			t.Fatalf("current Get: %q", v)
		}
	})
	t.Run("ResolveExpiredLock", func(t *testing.T) {
		ctx, cancel := ctx10()
		defer cancel()
		put(t, "lk", "committed")
		startTS, err := cli.GetTimestamp(ctx)
		if err != nil {
			t.Fatal(err)
		}
		key := k("lk")
		req := tikvrpc.NewRequest(tikvrpc.CmdPrewrite, &kvrpcpb.PrewriteRequest{
			Mutations:    []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: key, Value: []byte("uncommitted")}},
			PrimaryLock:  key,
			StartVersion: startTS,
			LockTtl:      100,
			TxnSize:      1,
		})
		bo := tikv.NewBackofferWithVars(ctx, 5000, nil)
		loc, err := cli.GetRegionCache().LocateKey(bo, key)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := cli.SendReq(bo, req, loc.Region, 5*time.Second)
		if err != nil {
			t.Fatalf("raw prewrite: %v", err)
		}
		pr := resp.Resp.(*kvrpcpb.PrewriteResponse)
		if pr.RegionError != nil || len(pr.Errors) > 0 {
			t.Fatalf("prewrite: %v %v", pr.RegionError, pr.Errors)
		}
		time.Sleep(300 * time.Millisecond)
		start := time.Now()
		v, err := get(t, "lk")
		if err != nil || string(v) != "committed" {
			t.Fatalf("Get through expired lock: %q %v", v, err)
		}
		t.Logf("resolved in %v", time.Since(start))
		// a writer should also be able to overwrite now
		put(t, "lk", "after")
	})
	t.Run("ReadBlockedByLiveLock", func(t *testing.T) {
		// A live prewrite lock (long TTL) must make the reader wait, then see the committed value.
		ctx, cancel := ctx10()
		defer cancel()
		put(t, "live", "old")
		key := k("live")
		startTS, _ := cli.GetTimestamp(ctx)
		bo := tikv.NewBackofferWithVars(ctx, 5000, nil)
		loc, _ := cli.GetRegionCache().LocateKey(bo, key)
		resp, err := cli.SendReq(bo, tikvrpc.NewRequest(tikvrpc.CmdPrewrite, &kvrpcpb.PrewriteRequest{
			Mutations:   []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: key, Value: []byte("new")}},
			PrimaryLock: key, StartVersion: startTS, LockTtl: 20000, TxnSize: 1,
		}), loc.Region, 5*time.Second)
		if err != nil || resp.Resp.(*kvrpcpb.PrewriteResponse).RegionError != nil || len(resp.Resp.(*kvrpcpb.PrewriteResponse).Errors) > 0 {
			t.Fatalf("prewrite: %v %v", err, resp)
		}
		commitTS, _ := cli.GetTimestamp(ctx)
		done := make(chan error, 1)
		go func() {
			time.Sleep(700 * time.Millisecond)
			bo := tikv.NewBackofferWithVars(ctx, 5000, nil)
			loc, _ := cli.GetRegionCache().LocateKey(bo, key)
			r, err := cli.SendReq(bo, tikvrpc.NewRequest(tikvrpc.CmdCommit, &kvrpcpb.CommitRequest{
				StartVersion: startTS, Keys: [][]byte{key}, CommitVersion: commitTS,
			}), loc.Region, 5*time.Second)
			if err == nil {
				cr := r.Resp.(*kvrpcpb.CommitResponse)
				if cr.RegionError != nil || cr.Error != nil {
					err = fmt.Errorf("commit: %v %v", cr.RegionError, cr.Error)
				}
			}
			done <- err
		}()
		begin := time.Now()
		v, err := get(t, "live") // reader ts > commitTS
		el := time.Since(begin)
		if cerr := <-done; cerr != nil {
			t.Fatalf("raw commit: %v", cerr)
		}
		t.Logf("reader got %q %v after %v", v, err, el)
		if err != nil || string(v) != "new" {
			t.Fatalf("reader: %q %v", v, err)
		}
		if el < 500*time.Millisecond {
			t.Fatalf("reader did not wait for live lock (%v)", el)
		}
	})
	t.Run("AggressiveLocking", func(t *testing.T) {
		ctx, cancel := ctx10()
		defer cancel()
		put(t, "ag", "0")
		t1, _ := cli.Begin()
		t1.SetPessimistic(true)
		if err := t1.LockKeys(ctx, kv.NewLockCtx(t1.StartTS(), kv.LockAlwaysWait, time.Now()), k("ag")); err != nil {
			t.Fatal(err)
		}
		t1.Set(k("ag"), []byte("1"))
		t2, _ := cli.Begin()
		t2.SetPessimistic(true)
		ts, _ := cli.GetTimestamp(ctx)
		errc := make(chan error, 1)
		go func() {
			t2.StartAggressiveLocking()
			errc <- t2.LockKeys(ctx, kv.NewLockCtx(ts, 5000, time.Now()), k("ag"))
		}()
		time.Sleep(300 * time.Millisecond)
		if err := t1.Commit(ctx); err != nil {
			t.Fatalf("t1 commit: %v", err)
		}
		if err := <-errc; err != nil {
			t.Fatalf("t2 aggressive LockKeys (force-lock wake-up) : %v", err)
		}
		t2.DoneAggressiveLocking(ctx)
		t2.Set(k("ag"), []byte("2"))
		if err := t2.Commit(ctx); err != nil {
			t.Fatalf("t2 commit: %v", err)
		}
		if v, err := get(t, "ag"); err != nil || string(v) != "2" {
			t.Fatalf("Get: %q %v", v, err)
		}
	})
	t.Run("DeleteRange", func(t *testing.T) {
		ctx, cancel := ctx10()
		defer cancel()
		put(t, "dr1", "1", "dr2", "2")
		n, err := cli.DeleteRange(ctx, k("dr"), k("ds"), 1)
		if err != nil {
			t.Fatalf("DeleteRange: %v", err)
		}
		t.Logf("DeleteRange completed regions=%d", n)
		if _, err := get(t, "dr1"); !tikverr.IsErrNotFound(err) {
			t.Fatalf("Get after DeleteRange: %v", err)
		}
	})
	t.Run("GC", func(t *testing.T) {
		ctx, cancel := ctx10()
		defer cancel()
		put(t, "gc", "1")
		ts, _ := cli.GetTimestamp(ctx)
		sp, err := cli.GC(ctx, ts)
		if err != nil {
			t.Fatalf("GC: %v", err)
		}
		t.Logf("GC safepoint %d (requested %d)", sp, ts)
		if v, err := get(t, "gc"); err != nil || string(v) != "1" {
			t.Fatalf("Get after GC: %q %v", v, err)
		}
	})
	t.Run("SafePointKV", func(t *testing.T) {
		spkv := cli.GetSafePointKV()
		v, err := spkv.Get("/tidb/store/gcworker/saved_safe_point")
		t.Logf("SafePointKV Get: %q %v", v, err)
		if err != nil {
			t.Fatalf("SafePointKV Get: %v", err)
		}
	})
	t.Run("GetAllStoresAndRegionCache", func(t *testing.T) {
		ctx, cancel := ctx10()
		defer cancel()
		stores, err := cli.GetPDClient().GetAllStores(ctx)
		if err != nil || len(stores) != 3 {
			t.Fatalf("GetAllStores: %d %v", len(stores), err)
		}
		rc := cli.GetRegionCache()
		if s := rc.GetAllStores(); len(s) == 0 {
			t.Logf("region cache has %d stores", len(s))
		}
	})
}
