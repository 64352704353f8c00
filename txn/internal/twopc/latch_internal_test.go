package twopc

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tikvgo/tikv/pdclient"
)

// Free latches whose last commit is over two minutes older than an
// acquiring transaction are forgotten once a slot holds five keys
// (client-go's latch recycle); held ones and recent ones stay.
//
// ports client-go's TestRecycle (internal/latch/latch_test.go)
func TestLatchRecycle(t *testing.T) {
	l := NewLatches(1) // one slot: every key shares it
	at := func(d time.Duration) uint64 { return pdclient.ComposeTS((time.Hour + d).Milliseconds(), 0) }
	ctx := context.Background()
	for i := range 4 {
		g, err := l.Acquire(ctx, at(0), [][]byte{fmt.Appendf(nil, "old%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		g.Release(at(time.Second))
	}
	held, err := l.Acquire(ctx, at(0), [][]byte{[]byte("held")})
	if err != nil {
		t.Fatal(err)
	}
	g, err := l.Acquire(ctx, at(3*time.Minute), [][]byte{[]byte("new")})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(l.slots[0].nodes); n != 2 {
		t.Fatalf("%d latches kept, want the held one and the new one", n)
	}
	g.Release(0)
	held.Release(0)
}
