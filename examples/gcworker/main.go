// Command gcworker runs TiKV's garbage collection from a client, as an
// application that uses TiKV without TiDB must: it picks a safe point a
// GC life time in the past, runs one GC round (package gc: advance the
// txn safe point, settle every lock below it, advance the GC safe point)
// and shows what that means for readers.
//
// With no -pd flag it starts an embedded mocktikv over gRPC, writes some
// history (overwritten values and a writer that crashed mid-commit) and
// uses a life time of zero so the round has something to collect:
//
//	go run ./examples/gcworker
//	go run ./examples/gcworker -pd 127.0.0.1:2379 -life 10m   # a real cluster
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/gc"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/plans"
	"github.com/tikvgo/tikv/txn"
)

func main() {
	pd := flag.String("pd", "", "comma-separated PD addresses; empty starts an embedded mocktikv")
	life := flag.Duration("life", 10*time.Minute, "GC life time: versions older than this may be collected (ignored with the embedded mocktikv)")
	flag.Parse()
	if err := run(os.Stdout, *pd, *life); err != nil {
		fmt.Fprintln(os.Stderr, "gcworker:", err)
		os.Exit(1)
	}
}

func run(out io.Writer, pdFlag string, life time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var addrs []string
	embedded := pdFlag == ""
	if embedded {
		mock := mocktikv.NewCluster(mocktikv.WithStores(3))
		if _, err := mock.SplitTxn([]byte("m")); err != nil {
			return err
		}
		if err := mock.Serve(); err != nil {
			return fmt.Errorf("start mocktikv: %w", err)
		}
		defer mock.Close()
		addrs = mock.PDAddrs()
		fmt.Fprintf(out, "started mocktikv: PD at %s, %d regions\n", strings.Join(addrs, ","), len(mock.Regions()))
		life = 0
	} else {
		addrs = strings.Split(pdFlag, ",")
	}
	cluster, err := tikv.Connect(ctx, addrs)
	if err != nil {
		return err
	}
	defer cluster.Close()
	client := txn.NewClient(cluster, txn.WithSafePointCache(txn.SafePointCacheOptions{Refresh: 10 * time.Millisecond}))
	defer client.Close(context.Background())

	var before uint64
	if embedded {
		if before, err = writeHistory(ctx, cluster, client); err != nil {
			return err
		}
		fmt.Fprintln(out, "wrote history: greeting overwritten, a writer crashed holding a lock on zebra")
	}

	now, err := cluster.Oracle().Now(ctx)
	if err != nil {
		return err
	}
	// The safe point is a GC life time before now; with no life time, now
	// itself (a whole timestamp, so that every write before it is below).
	safePoint := now
	if life > 0 {
		safePoint = pdclient.ComposeTS(pdclient.ExtractPhysical(now)-life.Milliseconds(), 0)
	}
	res, err := gc.Run(ctx, cluster, safePoint, gc.WithProgress(func(p gc.Progress) {
		if p.Phase != gc.PhaseResolveLocks || p.Regions.CompletedRegions == 0 {
			fmt.Fprintf(out, "gc: %s\n", p.Phase)
		}
	}))
	if err != nil {
		return fmt.Errorf("gc: %w", err)
	}
	fmt.Fprintf(out, "gc done: txn safe point %d, GC safe point %d, %d regions swept\n",
		res.TxnSafePoint, res.GCSafePoint, res.Regions.CompletedRegions)
	if res.Blocker != "" {
		fmt.Fprintf(out, "held back by %s\n", res.Blocker)
	}
	if !embedded {
		return nil
	}

	// A reader older than the safe point is refused: its versions may be
	// gone. The client's safe point cache learns the new value on its
	// next refresh.
	deadline := time.Now().Add(10 * time.Second)
	for !errors.Is(client.CheckVisibility(ctx, before), kv.ErrTxnAbortedByGC) {
		if time.Now().After(deadline) {
			return errors.New("the client never saw the new txn safe point")
		}
		time.Sleep(10 * time.Millisecond)
	}
	old, err := client.Begin(ctx, txn.WithStartTS(before))
	if err != nil {
		return err
	}
	if _, err := old.Get(ctx, []byte("greeting")); !errors.Is(err, kv.ErrTxnAbortedByGC) {
		return fmt.Errorf("a read below the safe point: %v, want ErrTxnAbortedByGC", err)
	}
	fmt.Fprintln(out, "a read below the safe point: aborted by GC")

	latest, err := client.Begin(ctx)
	if err != nil {
		return err
	}
	v, err := latest.Get(ctx, []byte("greeting"))
	if err != nil {
		return err
	}
	_, err = latest.Get(ctx, []byte("zebra"))
	if !errors.Is(err, kv.ErrNotFound) {
		return fmt.Errorf("zebra after GC: %v, want not found (the crashed write rolled back)", err)
	}
	fmt.Fprintf(out, "latest greeting: %s; zebra: not found (the crashed writer was rolled back)\n", v)
	return nil
}

// writeHistory overwrites a key and leaves a crashed writer's lock; it
// returns a timestamp from before the overwrite.
func writeHistory(ctx context.Context, cluster *tikv.Cluster, client *txn.Client) (uint64, error) {
	set := func(k, v string) error {
		return client.Update(ctx, func(ctx context.Context, t *txn.Txn) error { return t.Set([]byte(k), []byte(v)) })
	}
	if err := set("greeting", "hello"); err != nil {
		return 0, err
	}
	before, err := cluster.Oracle().Now(ctx)
	if err != nil {
		return 0, err
	}
	if err := set("greeting", "hello, world"); err != nil {
		return 0, err
	}
	// A writer that prewrote and died: its lock, with an hour to live,
	// would block readers until then. GC settles it.
	start, err := cluster.Oracle().Now(ctx)
	if err != nil {
		return 0, err
	}
	env := cluster.EnvFor(kv.ModeTxn)
	prewrite := pipeline.Single(pipeline.Shard(env,
		pipeline.ByKey(func(r *kvrpcpb.PrewriteRequest) []byte { return r.PrimaryLock }),
		pipeline.Retry(env, plans.KvPrewrite)))
	_, err = prewrite(ctx, &kvrpcpb.PrewriteRequest{PrimaryLock: []byte("zebra"), StartVersion: start,
		LockTtl: uint64(time.Hour.Milliseconds()), TxnSize: 1,
		Mutations: []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: []byte("zebra"), Value: []byte("stripes")}}})
	return before, err
}
