// Command mocktikv runs an in-memory TiKV cluster (PD plus stores) on
// loopback until it is interrupted, so that any TiKV client can be pointed
// at it:
//
//	mocktikv -stores 3 -split b,m,t
//
// It prints PD's address (the value for a client's PD endpoints) and each
// store's address, then serves until SIGINT or SIGTERM.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/tikvgo/tikv/mocktikv"
)

func main() {
	stores := flag.Int("stores", 1, "number of stores")
	split := flag.String("split", "", "comma-separated initial region boundaries (raw keys)")
	flag.Parse()

	var keys [][]byte
	for k := range strings.SplitSeq(*split, ",") {
		if k != "" {
			keys = append(keys, []byte(k))
		}
	}
	c := mocktikv.NewCluster(mocktikv.WithStores(*stores), mocktikv.WithSplitKeys(keys...))
	if err := c.Serve(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer c.Close()

	fmt.Printf("pd %s\n", strings.Join(c.PDAddrs(), ","))
	for _, id := range c.StoreIDs() {
		fmt.Printf("store %d %s\n", id, c.StoreAddr(id))
	}
	for _, r := range c.Regions() {
		_, leader := c.RegionByKey(r.StartKey)
		fmt.Printf("region %d [%q, %q) leader on store %d\n", r.Id, r.StartKey, r.EndKey, leader.GetStoreId())
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
}
