package clientgo

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	rmpb "github.com/pingcap/kvproto/pkg/resource_manager"
	tikverr "github.com/tikv/client-go/v2/error"
	"github.com/tikv/client-go/v2/kv"
	"github.com/tikv/client-go/v2/rawkv"
	"github.com/tikv/client-go/v2/txnkv"
	"go.uber.org/goleak"
)

func TestBank(t *testing.T) {
	cli, err := txnkv.NewClient([]string{pdAddr(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	const n = 20
	acct := func(i int) []byte { return k(fmt.Sprintf("bank%02d", i)) }
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := cli.SplitRegions(ctx, [][]byte{acct(5), acct(10), acct(15)}, false, nil); err != nil {
		t.Fatal(err)
	}
	txn, _ := cli.Begin()
	for i := 0; i < n; i++ {
		txn.Set(acct(i), binary.BigEndian.AppendUint64(nil, 1000))
	}
	if err := txn.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	stats := map[string]int{}
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			r := rand.New(rand.NewSource(int64(w)))
			for it := 0; it < 40; it++ {
				a, b := r.Intn(n), r.Intn(n)
				if a == b {
					continue
				}
				pess := w%2 == 0
				txn, _ := cli.Begin()
				txn.SetPessimistic(pess)
				txn.SetEnableAsyncCommit(w%4 < 2)
				if pess {
					lc := kv.NewLockCtx(txn.StartTS(), 2000, time.Now())
					if err := txn.LockKeys(ctx, lc, acct(a), acct(b)); err != nil {
						txn.Rollback()
						mu.Lock()
						stats["lockerr:"+errKind(err)]++
						mu.Unlock()
						continue
					}
				}
				m, err := txn.BatchGet(ctx, [][]byte{acct(a), acct(b)})
				if err != nil {
					txn.Rollback()
					mu.Lock()
					stats["geterr:"+err.Error()]++
					mu.Unlock()
					continue
				}
				va := binary.BigEndian.Uint64(m[string(acct(a))].Value)
				vb := binary.BigEndian.Uint64(m[string(acct(b))].Value)
				amt := uint64(r.Intn(10))
				if va < amt {
					txn.Rollback()
					continue
				}
				txn.Set(acct(a), binary.BigEndian.AppendUint64(nil, va-amt))
				txn.Set(acct(b), binary.BigEndian.AppendUint64(nil, vb+amt))
				err = txn.Commit(ctx)
				mu.Lock()
				if err != nil {
					if pess {
						stats["pessimistic-commiterr:"+errKind(err)]++
					} else {
						stats["commiterr:"+errKind(err)]++
					}
				} else {
					stats["ok"]++
				}
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	t.Logf("stats: %v", stats)
	txn, _ = cli.Begin()
	var total uint64
	for i := 0; i < n; i++ {
		e, err := txn.Get(ctx, acct(i))
		if err != nil {
			t.Fatalf("final Get: %v", err)
		}
		total += binary.BigEndian.Uint64(e.Value)
	}
	if total != n*1000 {
		t.Fatalf("bank invariant broken: total=%d want %d", total, n*1000)
	}
	for kname := range stats {
		if kname != "ok" && kname != "commiterr:writeconflict" && kname != "lockerr:writeconflict" && kname != "lockerr:deadlock" {
			t.Errorf("unexpected error class %q", kname)
		}
	}
}

func errKind(err error) string {
	switch {
	case tikverr.IsErrWriteConflict(err):
		return "writeconflict"
	default:
		if _, ok := err.(*tikverr.ErrDeadlock); ok {
			return "deadlock"
		}
		return err.Error()
	}
}

func TestResourceManager(t *testing.T) {
	cli, err := txnkv.NewClient([]string{pdAddr(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := ctx10()
	defer cancel()
	pdc := cli.GetPDClient()
	groups, err := pdc.ListResourceGroups(ctx)
	if err != nil {
		t.Fatalf("ListResourceGroups: %v", err)
	}
	t.Logf("groups: %d", len(groups))
	name := fmt.Sprintf("rg%d", time.Now().UnixNano()%100000)
	msg, err := pdc.AddResourceGroup(ctx, &rmpb.ResourceGroup{Name: name, Mode: rmpb.GroupMode_RUMode,
		RUSettings: &rmpb.GroupRequestUnitSettings{RU: &rmpb.TokenBucket{Settings: &rmpb.TokenLimitSettings{FillRate: 1000}}}})
	if err != nil {
		t.Fatalf("AddResourceGroup: %v", err)
	}
	g, err := pdc.GetResourceGroup(ctx, name)
	if err != nil || g.Name != name {
		t.Fatalf("GetResourceGroup: %v %v", g, err)
	}
	t.Logf("add: %q, get: %v", msg, g.RUSettings)
	txn, _ := cli.Begin()
	txn.SetResourceGroupName(name)
	txn.Set(k("rg"), []byte("v"))
	if err := txn.Commit(ctx); err != nil {
		t.Fatalf("commit with resource group: %v", err)
	}
	ts, err := cli.CurrentAllTSOKeyspaceGroupMinTs()
	t.Logf("CurrentAllTSOKeyspaceGroupMinTs=%d err=%v", ts, err)
	if err != nil {
		t.Errorf("CurrentAllTSOKeyspaceGroupMinTs: %v", err)
	}
}

func TestV2KeyspaceIsolation(t *testing.T) {
	addr := os.Getenv("MOCK_PD_V2")
	if addr == "" {
		t.Skip("MOCK_PD_V2 not set (start a mock with -api-version v2 -keyspace ks1)")
	}
	ctx, cancel := ctx10()
	defer cancel()
	c1, err := rawkv.NewClientWithOpts(ctx, []string{addr}, rawkv.WithAPIVersion(kvrpcpb.APIVersion_V2), rawkv.WithKeyspace("ks1"))
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	c0, err := rawkv.NewClientWithOpts(ctx, []string{addr}, rawkv.WithAPIVersion(kvrpcpb.APIVersion_V2), rawkv.WithKeyspace("DEFAULT"))
	if err != nil {
		t.Fatalf("DEFAULT keyspace client: %v", err)
	}
	defer c0.Close()
	if err := c1.Put(ctx, k("iso"), []byte("ks1")); err != nil {
		t.Fatal(err)
	}
	if v, err := c0.Get(ctx, k("iso")); err != nil || v != nil {
		t.Fatalf("DEFAULT sees ks1 key: %q %v", v, err)
	}
	// a v1 client against a v2 server
	c, err := rawkv.NewClientWithOpts(ctx, []string{addr})
	if err == nil {
		err = c.Put(ctx, []byte("v1key"), []byte("x"))
		c.Close()
	}
	t.Logf("v1 client against v2 server: %v", err)
}

// TestV2UnknownKeyspaceRefused: a client for a keyspace the mock's PD does
// not know fails to construct. client-go's rawkv.NewClientWithOpts returns
// that error without closing the PD client it made first (rawkv.go, the
// NewCodecPDClientWithKeyspace error path at b75f6efa8ddd), so its
// goroutines stay: the test checks nothing else is running before the
// call, then records what the call left as known leaks for TestMain.
func TestV2UnknownKeyspaceRefused(t *testing.T) {
	addr := os.Getenv("MOCK_PD_V2")
	if addr == "" {
		t.Skip("MOCK_PD_V2 not set (start a mock with -api-version v2 -keyspace ks1)")
	}
	if err := goleak.Find(knownLeaks...); err != nil {
		t.Fatalf("goroutines left by earlier tests: %v", err)
	}
	ctx, cancel := ctx10()
	defer cancel()
	_, err := rawkv.NewClientWithOpts(ctx, []string{addr}, rawkv.WithAPIVersion(kvrpcpb.APIVersion_V2), rawkv.WithKeyspace("nope"))
	knownLeaks = append(knownLeaks, goleak.IgnoreCurrent())
	if err == nil {
		t.Fatal("a client for a keyspace PD does not know was made")
	}
	t.Logf("unknown keyspace: %v", err)
}
