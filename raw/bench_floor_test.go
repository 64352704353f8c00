package raw_test

// Benchmarks of the raw client against its floor: the same operations sent
// as hand-written kvrpcpb calls on one gRPC connection, with the Context
// built once from mocktikv's region and leader. Both talk to the same
// one-store, one-region mocktikv over loopback gRPC, serially, so the
// difference is what the client adds: plans, region cache, replica
// selector, middleware chain, pool (and BatchCommands, in the batch mode).
//
// The server runs in this process, so ns/op, B/op and allocs/op include its
// work on both sides. cpu-ns/op is the process's user+system CPU time per
// operation (getrusage), the measure the 1.3x target is stated in.
//
//	go test -run '^$' -bench RawFloor -benchmem ./raw/

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/tikvpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/raw"
	"github.com/tikvgo/tikv/transport"
)

const floorKeys = 1000

// floorOps is one way of doing each benchmarked operation.
type floorOps struct {
	get      func(ctx context.Context, k []byte) error
	put      func(ctx context.Context, k, v []byte) error
	batchGet func(ctx context.Context, ks [][]byte) error
	batchPut func(ctx context.Context, ks, vs [][]byte) error
	scan     func(ctx context.Context, start []byte, limit int) (int, error)
}

func clientOps(c *raw.Client) floorOps {
	return floorOps{
		get: func(ctx context.Context, k []byte) error { _, err := c.Get(ctx, k); return err },
		put: func(ctx context.Context, k, v []byte) error { return c.Put(ctx, k, v) },
		batchGet: func(ctx context.Context, ks [][]byte) error {
			_, err := c.BatchGet(ctx, ks)
			return err
		},
		batchPut: func(ctx context.Context, ks, vs [][]byte) error { return c.BatchPut(ctx, ks, vs) },
		scan: func(ctx context.Context, start []byte, limit int) (int, error) {
			n := 0
			for _, err := range c.Scan(ctx, start, nil, limit) {
				if err != nil {
					return n, err
				}
				n++
			}
			return n, nil
		},
	}
}

// hand-written kvrpcpb calls, checking what a careful caller checks.
func floorOpsFor(tc tikvpb.TikvClient, rctx *kvrpcpb.Context) floorOps {
	regionErr := func(cmd string, e fmt.Stringer, msg string) error {
		if e != nil {
			return fmt.Errorf("%s: region error %v", cmd, e)
		}
		if msg != "" {
			return fmt.Errorf("%s: %s", cmd, msg)
		}
		return nil
	}
	return floorOps{
		get: func(ctx context.Context, k []byte) error {
			r, err := tc.RawGet(ctx, &kvrpcpb.RawGetRequest{Context: rctx, Key: k})
			if err != nil {
				return err
			}
			if r.RegionError != nil {
				return regionErr("RawGet", r.RegionError, "")
			}
			return regionErr("RawGet", nil, r.Error)
		},
		put: func(ctx context.Context, k, v []byte) error {
			r, err := tc.RawPut(ctx, &kvrpcpb.RawPutRequest{Context: rctx, Key: k, Value: v})
			if err != nil {
				return err
			}
			if r.RegionError != nil {
				return regionErr("RawPut", r.RegionError, "")
			}
			return regionErr("RawPut", nil, r.Error)
		},
		batchGet: func(ctx context.Context, ks [][]byte) error {
			r, err := tc.RawBatchGet(ctx, &kvrpcpb.RawBatchGetRequest{Context: rctx, Keys: ks})
			if err != nil {
				return err
			}
			if r.RegionError != nil {
				return regionErr("RawBatchGet", r.RegionError, "")
			}
			if len(r.Pairs) != len(ks) {
				return fmt.Errorf("RawBatchGet: %d pairs for %d keys", len(r.Pairs), len(ks))
			}
			return nil
		},
		batchPut: func(ctx context.Context, ks, vs [][]byte) error {
			pairs := make([]*kvrpcpb.KvPair, len(ks))
			for i := range ks {
				pairs[i] = &kvrpcpb.KvPair{Key: ks[i], Value: vs[i]}
			}
			r, err := tc.RawBatchPut(ctx, &kvrpcpb.RawBatchPutRequest{Context: rctx, Pairs: pairs})
			if err != nil {
				return err
			}
			if r.RegionError != nil {
				return regionErr("RawBatchPut", r.RegionError, "")
			}
			return regionErr("RawBatchPut", nil, r.Error)
		},
		scan: func(ctx context.Context, start []byte, limit int) (int, error) {
			r, err := tc.RawScan(ctx, &kvrpcpb.RawScanRequest{Context: rctx, StartKey: start, Limit: uint32(limit)})
			if err != nil {
				return 0, err
			}
			if r.RegionError != nil {
				return 0, regionErr("RawScan", r.RegionError, "")
			}
			return len(r.Kvs), nil
		},
	}
}

// withDeadline runs every operation of ops under a deadline of its own,
// d from the call's start.
func withDeadline(ops floorOps, d time.Duration) floorOps {
	bound := func(ctx context.Context) (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, d) }
	return floorOps{
		get: func(ctx context.Context, k []byte) error {
			ctx, cancel := bound(ctx)
			defer cancel()
			return ops.get(ctx, k)
		},
		put: func(ctx context.Context, k, v []byte) error {
			ctx, cancel := bound(ctx)
			defer cancel()
			return ops.put(ctx, k, v)
		},
		batchGet: func(ctx context.Context, ks [][]byte) error {
			ctx, cancel := bound(ctx)
			defer cancel()
			return ops.batchGet(ctx, ks)
		},
		batchPut: func(ctx context.Context, ks, vs [][]byte) error {
			ctx, cancel := bound(ctx)
			defer cancel()
			return ops.batchPut(ctx, ks, vs)
		},
		scan: func(ctx context.Context, start []byte, limit int) (int, error) {
			ctx, cancel := bound(ctx)
			defer cancel()
			return ops.scan(ctx, start, limit)
		},
	}
}

// floorTarget returns the PD addresses, the leader's address and the
// kvrpcpb Context of the region holding k: of a mocktikv in another
// process when TIKVGO_BENCH_PD names its PD (the figures are then the
// client's alone), else of a one-store mocktikv started in this process.
func floorTarget(b *testing.B, k []byte) (pdAddrs []string, storeAddr string, rctx *kvrpcpb.Context) {
	b.Helper()
	if env := os.Getenv("TIKVGO_BENCH_PD"); env != "" {
		pdAddrs = strings.Split(env, ",")
		pd, err := pdclient.Connect(context.Background(), pdAddrs)
		if err != nil {
			b.Fatal(err)
		}
		defer pd.Close()
		region, err := pd.GetRegion(context.Background(), k)
		if err != nil || region == nil || region.Leader == nil {
			b.Fatalf("region of %q from PD: %+v, %v", k, region, err)
		}
		store, err := pd.GetStore(context.Background(), region.Leader.GetStoreId())
		if err != nil {
			b.Fatal(err)
		}
		return pdAddrs, store.GetAddress(), &kvrpcpb.Context{
			RegionId: region.Meta.GetId(), RegionEpoch: region.Meta.GetRegionEpoch(), Peer: region.Leader,
		}
	}
	mock := mocktikv.Start(b, mocktikv.WithStores(1))
	region, leader := mock.RegionByKey(k)
	return mock.PDAddrs(), mock.StoreAddr(leader.GetStoreId()), &kvrpcpb.Context{
		RegionId: region.GetId(), RegionEpoch: region.GetRegionEpoch(), Peer: leader,
	}
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measure runs op b.N times and reports cpu-ns/op next to the usual
// metrics.
func measure(b *testing.B, op func(i int) error) {
	b.ReportAllocs()
	start := cpuTime()
	i := 0
	for b.Loop() {
		if err := op(i); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(cpuTime()-start)/float64(i), "cpu-ns/op")
}

// measureParallel is measure with callers goroutines sharing b.N.
func measureParallel(b *testing.B, callers int, op func(i int) error) {
	b.ReportAllocs()
	b.SetParallelism(max(1, callers/runtime.GOMAXPROCS(0)))
	var next atomic.Int64
	start := cpuTime()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := op(int(next.Add(1))); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

func BenchmarkRawFloor(b *testing.B) {
	ctx := context.Background()
	keys, values := make([][]byte, floorKeys), make([][]byte, floorKeys)
	for i := range floorKeys {
		keys[i], values[i] = key(i), value(i)
	}

	pdAddrs, storeAddr, rctx := floorTarget(b, keys[0])
	conn, err := grpc.NewClient(storeAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	floor := floorOpsFor(tikvpb.NewTikvClient(conn), rctx)
	if err := floor.batchPut(ctx, keys, values); err != nil {
		b.Fatal(err)
	}

	connect := func(opts ...transport.PoolOption) floorOps {
		cluster, err := tikv.Connect(ctx, pdAddrs, tikv.WithPoolOptions(opts...))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { cluster.Close() })
		c := raw.NewClient(cluster)
		// Warm the region cache and the connection.
		if _, err := c.Get(ctx, keys[0]); err != nil {
			b.Fatal(err)
		}
		return clientOps(c)
	}
	impls := []struct {
		name string
		ops  floorOps
	}{
		{"floor", floor},
		// The floor with the bound every client call carries: each call
		// under its own 30 s deadline, as the client's unary attempts are
		// (pipeline.DefaultReadTimeout / DefaultWriteTimeout), so the
		// price of grpc-go's per-call deadline is told apart from the
		// client's own.
		{"floor-deadline", withDeadline(floor, 30*time.Second)},
		{"client-unary", connect(transport.WithoutBatch())},
		{"client-batch", connect()},
	}
	for _, op := range []struct {
		name string
		run  func(ops floorOps, i int) error
	}{
		{"Get", func(o floorOps, i int) error { return o.get(ctx, keys[i*7%floorKeys]) }},
		{"Put", func(o floorOps, i int) error { return o.put(ctx, keys[i*7%floorKeys], values[i*7%floorKeys]) }},
		{"BatchGet100", func(o floorOps, i int) error {
			s := i * 100 % (floorKeys - 100)
			return o.batchGet(ctx, keys[s:s+100])
		}},
		{"BatchPut100", func(o floorOps, i int) error {
			s := i * 100 % (floorKeys - 100)
			return o.batchPut(ctx, keys[s:s+100], values[s:s+100])
		}},
		{"Scan1000", func(o floorOps, _ int) error {
			n, err := o.scan(ctx, keys[0], 1000)
			if err == nil && n != 1000 {
				err = fmt.Errorf("scan returned %d pairs", n)
			}
			return err
		}},
	} {
		for _, impl := range impls {
			b.Run(op.name+"/"+impl.name, func(b *testing.B) {
				measure(b, func(i int) error { return op.run(impl.ops, i) })
			})
		}
		if op.name != "Get" && op.name != "Put" {
			continue
		}
		// Issue #14 states its unary targets at 1 and 64 callers.
		for _, impl := range impls {
			b.Run(op.name+"/c64/"+impl.name, func(b *testing.B) {
				measureParallel(b, 64, func(i int) error { return op.run(impl.ops, i) })
			})
		}
	}
}
