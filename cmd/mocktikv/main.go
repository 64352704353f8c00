// Command mocktikv runs an in-memory TiKV cluster (PD plus stores) on
// loopback until it is interrupted, so that any TiKV client can be pointed
// at it:
//
//	go run ./cmd/mocktikv -stores 3 -split b,m,t
//
// It prints PD's address (the value for a client's PD endpoints) and each
// store's address, then serves until SIGINT or SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/tikvgo/tikv/mocktikv"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "mocktikv:", err)
		os.Exit(1)
	}
}

// run parses args, serves the cluster and prints its addresses to out, then
// blocks until ctx ends and shuts the cluster down.
func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("mocktikv", flag.ContinueOnError)
	fs.SetOutput(out)
	stores := fs.Int("stores", 1, "number of stores")
	split := fs.String("split", "", "comma-separated initial region boundaries (raw keys)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *stores < 1 {
		return fmt.Errorf("-stores must be at least 1, got %d", *stores)
	}
	var keys [][]byte
	for k := range strings.SplitSeq(*split, ",") {
		if k != "" {
			keys = append(keys, []byte(k))
		}
	}
	c := mocktikv.NewCluster(mocktikv.WithStores(*stores), mocktikv.WithSplitKeys(keys...))
	if err := c.Serve(); err != nil {
		return err
	}
	defer c.Close()

	fmt.Fprintf(out, "pd %s\n", strings.Join(c.PDAddrs(), ","))
	for _, id := range c.StoreIDs() {
		fmt.Fprintf(out, "store %d %s\n", id, c.StoreAddr(id))
	}
	for _, r := range c.Regions() {
		_, leader := c.RegionByKey(r.StartKey)
		fmt.Fprintf(out, "region %d [%q, %q) leader on store %d\n", r.Id, r.StartKey, r.EndKey, leader.GetStoreId())
	}
	<-ctx.Done()
	return nil
}
