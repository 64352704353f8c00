// Command mocktikv runs an in-memory TiKV cluster (PD plus stores) on
// loopback until it is interrupted, so that any TiKV client can be pointed
// at it:
//
//	go run ./cmd/mocktikv -addr 127.0.0.1:2379 -stores 3 -split b,m,t
//
// Flags:
//
//	-addr host:port   PD's listen address (default 127.0.0.1:0, a free
//	                  port). With port 0 every store gets a free port too;
//	                  with a fixed port P the stores listen on P+1, P+2, ...
//	-stores n         number of stores (default 1)
//	-split k1,k2      initial region boundaries at raw keys, as given
//	-txn-split k1,k2  initial region boundaries at transactional user keys;
//	                  TiKV stores those memcomparable-encoded, and so do the
//	                  boundaries PD reports
//	-keyspace name    create a keyspace (repeatable); its keys get regions
//	                  of their own. Use with -api-version v2.
//	-api-version v    the stores' storage API version: v1 (default), v1ttl
//	                  or v2
//	-control          serve the control API on PD's address (default true):
//	                  stop and start stores, cut the client off from one,
//	                  split, merge, move leaders, pause TSO and inject faults
//	                  from outside the process, e.g.
//	                  curl -X POST 'http://PD/mocktikv/v1/stores/1/stop';
//	                  see mocktikv's control_http.go and docs/mocktikv.md
//
// It prints PD's address (the value for a client's PD endpoints), each
// store's address and the initial regions, then serves until SIGINT or
// SIGTERM.
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

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

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
	opts, addr, err := parseFlags(args, out)
	if err != nil {
		return err
	}
	c := mocktikv.NewCluster(opts...)
	if err := c.ServeAt(addr); err != nil {
		return err
	}
	defer c.Close()

	fmt.Fprintf(out, "pd %s\n", strings.Join(c.PDAddrs(), ","))
	for _, id := range c.StoreIDs() {
		fmt.Fprintf(out, "store %d %s\n", id, c.StoreAddr(id))
	}
	fmt.Fprintf(out, "api-version %s\n", apiVersionName(c.APIVersion()))
	for _, ks := range c.Keyspaces() {
		fmt.Fprintf(out, "keyspace %d %s\n", ks.GetId(), ks.GetName())
	}
	for _, r := range c.Regions() {
		_, leader := c.RegionByKey(r.StartKey)
		fmt.Fprintf(out, "region %d [%q, %q) leader on store %d\n", r.Id, r.StartKey, r.EndKey, leader.GetStoreId())
	}
	<-ctx.Done()
	return nil
}

// parseFlags turns the command line into cluster options and PD's listen
// address.
func parseFlags(args []string, out io.Writer) ([]mocktikv.Option, string, error) {
	fs := flag.NewFlagSet("mocktikv", flag.ContinueOnError)
	fs.SetOutput(out)
	addr := fs.String("addr", "127.0.0.1:0", "PD listen address; stores use the next ports (or free ports when the port is 0)")
	stores := fs.Int("stores", 1, "number of stores")
	split := fs.String("split", "", "comma-separated initial region boundaries (raw keys)")
	txnSplit := fs.String("txn-split", "", "comma-separated initial region boundaries (transactional user keys, stored memcomparable-encoded)")
	apiVersion := fs.String("api-version", "v1", "storage API version: v1, v1ttl or v2")
	control := fs.Bool("control", true, "serve the control API (stop stores, split, move leaders, inject faults) on PD's address under /mocktikv/v1/")
	var keyspaces []string
	fs.Func("keyspace", "create a keyspace (repeatable)", func(name string) error {
		if name == "" {
			return fmt.Errorf("empty keyspace name")
		}
		keyspaces = append(keyspaces, name)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return nil, "", err
	}
	if fs.NArg() > 0 {
		return nil, "", fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *stores < 1 {
		return nil, "", fmt.Errorf("-stores must be at least 1, got %d", *stores)
	}
	v, ok := apiVersions()[strings.ToLower(*apiVersion)]
	if !ok {
		return nil, "", fmt.Errorf("-api-version must be v1, v1ttl or v2, got %q", *apiVersion)
	}
	opts := []mocktikv.Option{
		mocktikv.WithStores(*stores),
		mocktikv.WithSplitKeys(splitList(*split)...),
		mocktikv.WithTxnSplitKeys(splitList(*txnSplit)...),
		mocktikv.WithAPIVersion(v),
	}
	for _, name := range keyspaces {
		opts = append(opts, mocktikv.WithKeyspace(name))
	}
	if *control {
		opts = append(opts, mocktikv.WithControlAPI())
	}
	return opts, *addr, nil
}

// apiVersions maps the -api-version values to API versions.
func apiVersions() map[string]kvrpcpb.APIVersion {
	return map[string]kvrpcpb.APIVersion{"v1": kvrpcpb.APIVersion_V1, "v1ttl": kvrpcpb.APIVersion_V1TTL, "v2": kvrpcpb.APIVersion_V2}
}

// apiVersionName is the -api-version value naming v.
func apiVersionName(v kvrpcpb.APIVersion) string {
	for name, av := range apiVersions() {
		if av == v {
			return name
		}
	}
	return v.String()
}

// splitList splits a comma-separated list, dropping empty elements.
func splitList(s string) [][]byte {
	var keys [][]byte
	for k := range strings.SplitSeq(s, ",") {
		if k != "" {
			keys = append(keys, []byte(k))
		}
	}
	return keys
}
