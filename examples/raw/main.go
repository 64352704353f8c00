// Command raw is a tour of tikvgo's whole RawKV API: point and batch reads
// and writes, scans in both directions with limits and key-only, range
// deletion, column families, TTLs, compare-and-swap and checksums, with the
// per-call options that tune them.
//
// With no -pd flag it starts an embedded mocktikv (three stores, several
// regions, TTL-enabled storage, served over gRPC on loopback):
//
//	go run ./examples/raw
//	go run ./examples/raw -pd 127.0.0.1:2379   # a real cluster (storage.api-version = 1 with TTL, or 2 with -v2)
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
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/raw"
)

func main() {
	pd := flag.String("pd", "", "comma-separated PD addresses; empty starts an embedded mocktikv")
	v2 := flag.Bool("v2", false, "use API v2 (keyspaces); the cluster must run storage.api-version = 2")
	flag.Parse()
	if err := run(os.Stdout, *pd, *v2); err != nil {
		fmt.Fprintln(os.Stderr, "raw:", err)
		os.Exit(1)
	}
}

// tour is the state the steps share.
type tour struct {
	out    io.Writer
	client *raw.Client
}

func (t *tour) printf(format string, args ...any) { fmt.Fprintf(t.out, format, args...) }

func run(out io.Writer, pdFlag string, v2 bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	storage := kvrpcpb.APIVersion_V1TTL // V1 with TTLs: clients speak V1 to it
	var opts []tikv.Option
	if v2 {
		storage = kvrpcpb.APIVersion_V2
		opts = append(opts, tikv.WithAPIVersion(kvrpcpb.APIVersion_V2))
	}
	var addrs []string
	if pdFlag == "" {
		mockOpts := []mocktikv.Option{mocktikv.WithStores(3), mocktikv.WithAPIVersion(storage)}
		if !v2 {
			// Region boundaries are in TiKV's stored key form, which under
			// API v2 is keyspace-prefixed and encoded; the v2 tour keeps
			// one region.
			mockOpts = append(mockOpts, mocktikv.WithSplitKeys([]byte("tour/f"), []byte("tour/m"), []byte("tour/t")))
		}
		mock := mocktikv.NewCluster(mockOpts...)
		if err := mock.Serve(); err != nil {
			return fmt.Errorf("start mocktikv: %w", err)
		}
		defer mock.Close()
		addrs = mock.PDAddrs()
		fmt.Fprintf(out, "started mocktikv (%s storage): %d stores, %d regions\n",
			storage, len(mock.StoreIDs()), len(mock.Regions()))
	} else {
		addrs = strings.Split(pdFlag, ",")
	}

	cluster, err := tikv.Connect(ctx, addrs, opts...)
	if err != nil {
		return err
	}
	defer cluster.Close()
	// One client per cluster connection; options derive others cheaply.
	t := &tour{out: out, client: raw.NewClient(cluster)}
	defer t.client.DeleteRange(context.WithoutCancel(ctx), []byte("tour/"), []byte("tour0"))

	for _, step := range []struct {
		name string
		fn   func(context.Context) error
	}{
		{"point operations", t.points},
		{"batches", t.batches},
		{"scans", t.scans},
		{"column families", t.columnFamilies},
		{"TTLs", t.ttls},
		{"compare-and-swap", t.compareAndSwap},
		{"checksum and range deletion", t.checksumAndDeleteRange},
		{"call options", t.callOptions},
	} {
		t.printf("\n== %s\n", step.name)
		if err := step.fn(ctx); err != nil {
			return fmt.Errorf("%s: %w", step.name, err)
		}
	}
	return nil
}

func (t *tour) points(ctx context.Context) error {
	c := t.client
	if err := c.Put(ctx, []byte("tour/apple"), []byte("red")); err != nil {
		return err
	}
	v, err := c.Get(ctx, []byte("tour/apple"))
	if err != nil {
		return err
	}
	t.printf("get tour/apple = %s\n", v)
	// An empty value is a value; a missing key is kv.ErrNotFound.
	if err := c.Put(ctx, []byte("tour/empty"), nil); err != nil {
		return err
	}
	v, err = c.Get(ctx, []byte("tour/empty"))
	t.printf("get tour/empty = %q (found: %v)\n", v, err == nil)
	if err := c.Delete(ctx, []byte("tour/empty")); err != nil {
		return err
	}
	_, err = c.Get(ctx, []byte("tour/empty"))
	t.printf("after delete: not found = %v\n", errors.Is(err, kv.ErrNotFound))
	return nil
}

func (t *tour) batches(ctx context.Context) error {
	c := t.client
	var keys, values [][]byte
	for i, fruit := range []string{"banana", "cherry", "grape", "kiwi", "lemon", "mango", "peach", "plum", "quince"} {
		keys = append(keys, []byte("tour/"+fruit))
		values = append(values, fmt.Appendf(nil, "%d", i))
	}
	// Keys are grouped by region and written in parallel; a duplicated key's
	// last occurrence wins.
	keys, values = append(keys, []byte("tour/banana")), append(values, []byte("last wins"))
	if err := c.BatchPut(ctx, keys, values); err != nil {
		return err
	}
	got, err := c.BatchGet(ctx, [][]byte{[]byte("tour/banana"), []byte("tour/plum"), []byte("tour/none")})
	if err != nil {
		return err
	}
	t.printf("batch get banana, plum, none = %q (a missing key is nil: %v)\n", got, got[2] == nil)
	return c.BatchDelete(ctx, [][]byte{[]byte("tour/quince")})
}

func (t *tour) scans(ctx context.Context) error {
	c := t.client
	t.printf("scan [tour/c, tour/p) limit 4:")
	for pair, err := range c.Scan(ctx, []byte("tour/c"), []byte("tour/p"), 4) {
		if err != nil {
			return err
		}
		t.printf(" %s=%s", strings.TrimPrefix(string(pair.Key), "tour/"), pair.Value)
	}
	t.printf("\nreverse scan below tour/p, key only, limit 3:")
	for pair, err := range c.ReverseScan(ctx, []byte("tour/p"), []byte("tour/"), 3, raw.KeyOnly()) {
		if err != nil {
			return err
		}
		t.printf(" %s", strings.TrimPrefix(string(pair.Key), "tour/"))
	}
	// Breaking out of the loop stops further RPCs.
	n := 0
	for _, err := range c.Scan(ctx, []byte("tour/"), []byte("tour0"), 0) {
		if err != nil {
			return err
		}
		if n++; n == 2 {
			break
		}
	}
	t.printf("\nstopped an unlimited scan after %d pairs\n", n)
	return nil
}

func (t *tour) columnFamilies(ctx context.Context) error {
	if err := t.client.Put(ctx, []byte("tour/apple"), []byte("in the write CF"), raw.ColumnFamily("write")); err != nil {
		if errors.As(err, new(*kv.ServerError)) {
			t.printf("this cluster takes no column family names (API v2): %v\n", err)
			return nil
		}
		return err
	}
	writeCF := t.client.With(raw.WithColumnFamily("write"))
	a, _ := writeCF.Get(ctx, []byte("tour/apple"))
	b, _ := t.client.Get(ctx, []byte("tour/apple"))
	t.printf("tour/apple: %q in write, %q in default\n", a, b)
	return writeCF.DeleteRange(ctx, []byte("tour/"), []byte("tour0"))
}

func (t *tour) ttls(ctx context.Context) error {
	c := t.client
	if err := c.Put(ctx, []byte("tour/session"), []byte("token"), raw.TTL(90*time.Second)); err != nil {
		return fmt.Errorf("put with TTL (the cluster must enable TTLs): %w", err)
	}
	ttl, err := c.GetKeyTTL(ctx, []byte("tour/session"))
	if err != nil {
		return err
	}
	t.printf("tour/session expires in %v or less (TiKV counts whole seconds)\n", ttl.Round(time.Second))
	if err := c.BatchPutWithTTL(ctx, [][]byte{[]byte("tour/t1"), []byte("tour/t2")}, [][]byte{[]byte("a"), []byte("b")},
		[]time.Duration{time.Hour, 0}); err != nil {
		return err
	}
	forever, err := c.GetKeyTTL(ctx, []byte("tour/t2"))
	t.printf("tour/t2 has no TTL: %v\n", forever == 0 && err == nil)
	_, err = c.GetKeyTTL(ctx, []byte("tour/none"))
	t.printf("GetKeyTTL of a missing key: not found = %v\n", errors.Is(err, kv.ErrNotFound))
	return nil
}

func (t *tour) compareAndSwap(ctx context.Context) error {
	if _, _, err := t.client.CompareAndSwap(ctx, []byte("tour/lock"), nil, []byte("a")); errors.Is(err, raw.ErrNotAtomic) {
		t.printf("CAS needs atomic mode: %v\n", err)
	}
	// Every writer of CAS-managed keys must use atomic mode.
	atomic := t.client.With(raw.WithAtomicForCAS(true))
	old, swapped, err := atomic.CompareAndSwap(ctx, []byte("tour/lock"), nil, []byte("owner-1"))
	if err != nil {
		return err
	}
	t.printf("create if absent: swapped=%v (old value nil: %v)\n", swapped, old == nil)
	old, swapped, err = atomic.CompareAndSwap(ctx, []byte("tour/lock"), []byte("owner-2"), []byte("owner-3"))
	if err != nil {
		return err
	}
	t.printf("wrong expectation: swapped=%v, current value %s\n", swapped, old)
	_, swapped, err = atomic.CompareAndSwap(ctx, []byte("tour/lock"), old, []byte("owner-2"))
	if errors.Is(err, kv.ErrUndetermined) {
		// The request may or may not have been applied; it is never resent.
		v, _ := atomic.Get(ctx, []byte("tour/lock"))
		t.printf("outcome unknown; the key now holds %s\n", v)
		return nil
	}
	if err != nil {
		return err
	}
	t.printf("retry with the value seen: swapped=%v\n", swapped)
	return nil
}

func (t *tour) checksumAndDeleteRange(ctx context.Context) error {
	c := t.client
	sum, err := c.Checksum(ctx, []byte("tour/"), []byte("tour0"))
	if err != nil {
		return err
	}
	t.printf("checksum of tour/: %d pairs, %d bytes, crc64-xor %#x\n", sum.TotalKvs, sum.TotalBytes, sum.Crc64Xor)
	if err := c.DeleteRange(ctx, []byte("tour/a"), []byte("tour/m")); err != nil {
		return err
	}
	sum, err = c.Checksum(ctx, []byte("tour/"), []byte("tour0"))
	if err != nil {
		return err
	}
	t.printf("after deleting [tour/a, tour/m): %d pairs\n", sum.TotalKvs)
	return nil
}

func (t *tour) callOptions(ctx context.Context) error {
	// Reads may go to followers (a tikvgo extension), and any call can carry
	// a priority and a request source for TiKV's scheduling and metrics.
	v, err := t.client.Get(ctx, []byte("tour/plum"),
		raw.ReplicaRead(kv.ReplicaReadFollower), raw.Priority(kvrpcpb.CommandPri_Low), raw.RequestSource("tour"))
	if err != nil {
		return err
	}
	t.printf("follower read of tour/plum = %s\n", v)
	// An option a method does not take is an error, not ignored.
	err = t.client.Delete(ctx, []byte("tour/plum"), raw.TTL(time.Second))
	t.printf("Delete with a TTL: invalid argument = %v\n", errors.Is(err, kv.ErrInvalidArgument))
	return nil
}
