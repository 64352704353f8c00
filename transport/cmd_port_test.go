package transport

import (
	"fmt"
	"sync"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// A retry attaches a new Context to the request while the batch loop may
// still be encoding the previous attempt's message: attaching must not
// write to a message another goroutine reads. For every batchable command,
// one goroutine attaches fresh Contexts to the same request and another
// encodes each result; -race fails the test if attaching mutates shared
// state.
//
// ports client-go's TestTiDB51921 (tikvrpc/tikvrpc_test.go)
func TestCmdWithContextRacesEncoding(t *testing.T) {
	for _, c := range allCmds() {
		if !c.Batchable() {
			continue
		}
		t.Run(fmt.Sprint(c), func(t *testing.T) {
			req := c.NewRequest()
			attempts := make(chan Message, 8)
			var wg sync.WaitGroup
			wg.Go(func() {
				defer close(attempts)
				for i := range 200 {
					attempts <- c.WithContext(req, &kvrpcpb.Context{RegionId: uint64(i) + 1})
				}
			})
			var buf []byte
			var last Message
			for m := range attempts {
				var err error
				if buf, err = marshalInto(buf[:0], m); err != nil {
					t.Fatal(err)
				}
				last = m
			}
			wg.Wait()
			if got := c.Context(last).GetRegionId(); got != 200 {
				t.Fatalf("last attempt's region %d, want 200", got)
			}
			if c.Context(req) != nil {
				t.Fatal("attaching changed the original request")
			}
		})
	}
}
