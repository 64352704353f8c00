// Command customplan builds request plans of its own from tikvgo's public
// plan algebra (package pipeline) and runs them:
//
//   - a multi-range batch scan (RawBatchScan, which the raw client does not
//     wrap) whose merge applies a per-call limit to each range across all the
//     regions it spans;
//   - a query of every store (GetStoreSafeTS through pipeline.AllStores), with
//     per-store results;
//   - an administrative command no client wraps (SplitRegion), routed to the
//     leaders of the regions that hold the split keys.
//
// Every call is watched by an observer (tikv.WithObserver) that counts the
// logical calls and their events, as a tracing or metrics layer would.
//
// With no -pd flag it starts an embedded mocktikv (three stores, served over
// gRPC on loopback):
//
//	go run ./examples/customplan
//	go run ./examples/customplan -pd 127.0.0.1:2379   # a real cluster (API v1)
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/observe"
	"github.com/tikvgo/tikv/raw"
)

func main() {
	pd := flag.String("pd", "", "comma-separated PD addresses; empty starts an embedded mocktikv")
	flag.Parse()
	if err := run(os.Stdout, *pd); err != nil {
		fmt.Fprintln(os.Stderr, "customplan:", err)
		os.Exit(1)
	}
}

func run(out io.Writer, pdFlag string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var addrs []string
	if pdFlag == "" {
		mock := mocktikv.NewCluster(mocktikv.WithStores(3),
			mocktikv.WithSplitKeys([]byte("customplan/d"), []byte("customplan/k")))
		if err := mock.Serve(); err != nil {
			return fmt.Errorf("start mocktikv: %w", err)
		}
		defer mock.Close()
		addrs = mock.PDAddrs()
		fmt.Fprintf(out, "started mocktikv: PD at %s, %d stores, %d regions\n",
			strings.Join(addrs, ","), len(mock.StoreIDs()), len(mock.Regions()))
	} else {
		addrs = strings.Split(pdFlag, ",")
	}

	calls := &callCounter{}
	cluster, err := tikv.Connect(ctx, addrs, tikv.WithObserver(calls))
	if err != nil {
		return err
	}
	defer cluster.Close()
	// The raw key space's environment: its region cache and the cluster's
	// middleware chain. Plans built on it refuse transactional commands.
	env := cluster.EnvFor(kv.ModeRaw)

	// Some data, across the regions.
	client := raw.NewClient(cluster)
	var keys, values [][]byte
	for c := 'a'; c <= 'p'; c++ {
		keys = append(keys, fmt.Appendf(nil, "customplan/%c", c))
		values = append(values, fmt.Appendf(nil, "%c%c", c, c))
	}
	if err := client.BatchPut(ctx, keys, values); err != nil {
		return fmt.Errorf("batch put: %w", err)
	}

	// 1. A batch scan of three ranges, given out of key order, at most 4
	// pairs each: the first spans two regions ([customplan/d, customplan/k)
	// and [customplan/k, ...)), each of which answers up to 4 pairs.
	ranges := []*kvrpcpb.KeyRange{
		{StartKey: []byte("customplan/h"), EndKey: []byte("customplan/z")},
		{StartKey: []byte("customplan/a"), EndKey: []byte("customplan/c")},
		{StartKey: []byte("customplan/e"), EndKey: []byte("customplan/f")},
	}
	scanned, err := batchScan(env)(ctx, &kvrpcpb.RawBatchScanRequest{Ranges: ranges, EachLimit: 4})
	if err != nil {
		return fmt.Errorf("batch scan: %w", err)
	}
	fmt.Fprintln(out, "batch scan, at most 4 pairs per range:")
	for i, pairs := range scanned {
		var kvs []string
		for _, p := range pairs {
			kvs = append(kvs, fmt.Sprintf("%s=%s", p.GetKey(), p.GetValue()))
		}
		fmt.Fprintf(out, "  [%s, %s): %s\n", ranges[i].GetStartKey(), ranges[i].GetEndKey(), strings.Join(kvs, " "))
	}

	// 2. Every store's safe ts, and the cluster's (their minimum).
	results, err := storeSafeTS(env)(ctx, &kvrpcpb.StoreSafeTSRequest{KeyRange: &kvrpcpb.KeyRange{}})
	if err != nil {
		return fmt.Errorf("store safe ts: %w", err)
	}
	for _, r := range results {
		if r.Err != nil {
			fmt.Fprintf(out, "store %d: no answer: %v\n", r.Store.ID, r.Err)
			continue
		}
		fmt.Fprintf(out, "store %d (%s) answered a safe ts\n", r.Store.ID, r.Store.Addr)
	}
	ts, err := minSafeTS(results)
	if err != nil {
		return fmt.Errorf("cluster safe ts: %w", err)
	}
	fmt.Fprintf(out, "cluster safe ts: %d (%d stores)\n", ts, len(results))

	// 3. Split at two raw keys, in two different regions.
	regions, err := splitRegions(env)(ctx, &kvrpcpb.SplitRegionRequest{
		SplitKeys: [][]byte{[]byte("customplan/g"), []byte("customplan/b")},
		IsRawKv:   true,
	})
	if err != nil {
		return fmt.Errorf("split regions: %w", err)
	}
	fmt.Fprintf(out, "split at customplan/b and customplan/g: %d regions where there were 2\n", regions)
	// The plans route by the cache, which is stale now: the next scan meets
	// EpochNotMatch, and its pieces are re-split against the new layout.
	again, err := batchScan(env)(ctx, &kvrpcpb.RawBatchScanRequest{Ranges: ranges[1:2], EachLimit: 4})
	if err != nil {
		return fmt.Errorf("batch scan after the split: %w", err)
	}
	fmt.Fprintf(out, "batch scan after the split: %d pairs in [customplan/a, customplan/c)\n", len(again[0]))

	calls.mu.Lock()
	fmt.Fprintf(out, "observed calls: %d BatchScan, %d StoreSafeTS, %d SplitRegions; %d splits, %d re-splits\n",
		calls.calls["BatchScan"], calls.calls["StoreSafeTS"], calls.calls["SplitRegions"],
		calls.events[observe.Split], calls.events[observe.Resplit])
	calls.mu.Unlock()
	return nil
}

// callCounter is an observe.Observer that counts logical calls by API and
// events by kind.
type callCounter struct {
	mu     sync.Mutex
	calls  map[string]int
	events map[observe.Kind]int
}

func (c *callCounter) Start(ctx context.Context, call observe.Call) context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.calls == nil {
		c.calls, c.events = map[string]int{}, map[observe.Kind]int{}
	}
	c.calls[call.API]++
	return ctx
}

func (c *callCounter) Event(_ context.Context, e observe.Event) {
	c.mu.Lock()
	c.events[e.Kind]++
	c.mu.Unlock()
}

func (c *callCounter) End(context.Context, observe.Call, error) {}
