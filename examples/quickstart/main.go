// Command quickstart is tikvgo's first-run tour: it connects to a TiKV
// cluster and runs a few RawKV operations and a transaction, printing what
// it did.
//
// With no -pd flag it starts an embedded mocktikv (two stores, several
// regions, served over gRPC on loopback), so it needs nothing installed:
//
//	go run ./examples/quickstart
//	go run ./examples/quickstart -pd 127.0.0.1:2379   # a real cluster
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

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/raw"
	"github.com/tikvgo/tikv/txn"
)

func main() {
	pd := flag.String("pd", "", "comma-separated PD addresses; empty starts an embedded mocktikv")
	flag.Parse()
	if err := run(os.Stdout, *pd); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(out io.Writer, pdFlag string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var addrs []string
	if pdFlag == "" {
		mock := mocktikv.NewCluster(
			mocktikv.WithStores(2),
			mocktikv.WithSplitKeys([]byte("quickstart/c"), []byte("quickstart/f"), []byte("quickstart/i")),
		)
		// Under API v1 raw and transactional keys share one key space, and
		// regions split at raw keys cannot route transactional keys (which
		// are memcomparable-encoded): the transactional part of the tour
		// gets a region of its own, split at a transactional key.
		if _, err := mock.SplitTxn([]byte("quickstart/")); err != nil {
			return fmt.Errorf("split mocktikv: %w", err)
		}
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

	cluster, err := tikv.Connect(ctx, addrs)
	if err != nil {
		return err
	}
	defer cluster.Close()
	client := raw.NewClient(cluster)

	if err := client.Put(ctx, []byte("quickstart/a"), []byte("apple")); err != nil {
		return fmt.Errorf("put: %w", err)
	}
	v, err := client.Get(ctx, []byte("quickstart/a"))
	if err != nil {
		return fmt.Errorf("get: %w", err)
	}
	fmt.Fprintf(out, "put quickstart/a = apple; get returned %q\n", v)

	var keys, values [][]byte
	for i := range 12 {
		keys = append(keys, fmt.Appendf(nil, "quickstart/%c", 'b'+i))
		values = append(values, fmt.Appendf(nil, "value-%d", i))
	}
	if err := client.BatchPut(ctx, keys, values); err != nil {
		return fmt.Errorf("batch put: %w", err)
	}
	got, err := client.BatchGet(ctx, keys[:3])
	if err != nil {
		return fmt.Errorf("batch get: %w", err)
	}
	fmt.Fprintf(out, "batch put %d keys across regions; batch get of the first 3 returned %q\n", len(keys), got)

	fmt.Fprintln(out, "scan [quickstart/, quickstart/z) limit 5:")
	for pair, err := range client.Scan(ctx, []byte("quickstart/"), []byte("quickstart/z"), 5) {
		if err != nil {
			return fmt.Errorf("scan: %w", err)
		}
		fmt.Fprintf(out, "  %s = %s\n", pair.Key, pair.Value)
	}
	fmt.Fprintln(out, "reverse scan from quickstart/z down to quickstart/ limit 3:")
	for pair, err := range client.ReverseScan(ctx, []byte("quickstart/z"), []byte("quickstart/"), 3) {
		if err != nil {
			return fmt.Errorf("reverse scan: %w", err)
		}
		fmt.Fprintf(out, "  %s = %s\n", pair.Key, pair.Value)
	}

	if err := client.Delete(ctx, []byte("quickstart/a")); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	if _, err := client.Get(ctx, []byte("quickstart/a")); !errors.Is(err, kv.ErrNotFound) {
		return fmt.Errorf("get after delete: want ErrNotFound, got %v", err)
	}
	fmt.Fprintln(out, "deleted quickstart/a; get now reports not found")

	if err := client.DeleteRange(ctx, []byte("quickstart/"), []byte("quickstart/z")); err != nil {
		return fmt.Errorf("delete range: %w", err)
	}
	n := 0
	for _, err := range client.Scan(ctx, []byte("quickstart/"), []byte("quickstart/z"), 0) {
		if err != nil {
			return fmt.Errorf("scan after delete range: %w", err)
		}
		n++
	}
	fmt.Fprintf(out, "delete range [quickstart/, quickstart/z) left %d keys\n", n)

	// Transactions: writes buffered and committed together (two-phase
	// commit), reads at the transaction's start timestamp.
	tc := txn.NewClient(cluster)
	defer tc.Close(context.Background())
	err = tc.Update(ctx, func(ctx context.Context, t *txn.Txn) error {
		if err := t.Set([]byte("quickstart/alice"), []byte("60")); err != nil {
			return err
		}
		return t.Set([]byte("quickstart/bob"), []byte("40"))
	})
	if err != nil {
		return fmt.Errorf("txn update: %w", err)
	}
	ts, err := tc.CurrentTimestamp(ctx)
	if err != nil {
		return err
	}
	balances, err := tc.Snapshot(ts).BatchGet(ctx, [][]byte{[]byte("quickstart/alice"), []byte("quickstart/bob")})
	if err != nil {
		return fmt.Errorf("snapshot batch get: %w", err)
	}
	fmt.Fprintf(out, "a transaction wrote alice=60 and bob=40 together; a snapshot reads %q\n", balances)
	return nil
}
