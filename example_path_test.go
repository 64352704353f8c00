package tikv_test

import (
	"fmt"

	tikv "github.com/tikvgo/tikv"
)

// A TiDB-style store path names the PD endpoints, whether this process
// should leave GC alone, and the keyspace; Options turns the keyspace into
// WithKeyspace for Connect.
func ExampleParsePath() {
	p, err := tikv.ParsePath("tikv://pd1:2379,pd2:2379?disableGC=true&keyspaceName=ks1")
	if err != nil {
		fmt.Println(err)
		return
	}
	// Connect(ctx, p.PDAddrs, p.Options()...) would now work in keyspace ks1.
	fmt.Println(p.PDAddrs, p.DisableGC, p.KeyspaceName, len(p.Options()))
	// Output: [pd1:2379 pd2:2379] true ks1 1
}
