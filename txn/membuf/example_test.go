package membuf_test

import (
	"fmt"
	"iter"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/txn/membuf"
)

// A transaction buffers writes, rolls back a failed statement with a stage,
// and reads through the buffer.
func Example() {
	b := membuf.New(membuf.WithLimits(membuf.Limits{MaxSize: 1 << 20}))
	_ = b.Set([]byte("a"), []byte("1"))

	h := b.Staging() // a statement begins
	_ = b.Set([]byte("a"), []byte("2"))
	_ = b.Delete([]byte("b"))
	b.Cleanup(h) // the statement failed: its writes are gone

	v, kind := b.Get([]byte("a"))
	fmt.Println(string(v), kind)
	_, kind = b.Get([]byte("b"))
	fmt.Println(kind, b.Len())
	// Output:
	// 1 put
	// none 1
}

// Union overlays the buffer on a snapshot scan: buffered values shadow,
// tombstones hide.
func ExampleBuffer_Union() {
	snapshot := func(yield func(kv.KeyValue, error) bool) {
		for _, k := range []string{"a", "b", "c"} {
			if !yield(kv.KeyValue{Key: kv.Key(k), Value: []byte("old")}, nil) {
				return
			}
		}
	}
	b := membuf.New()
	_ = b.Set([]byte("a"), []byte("new"))
	_ = b.Delete([]byte("b"))
	_ = b.Set([]byte("d"), []byte("new"))
	for p, err := range b.Union(nil, nil, iter.Seq2[kv.KeyValue, error](snapshot)) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s=%s ", p.Key, p.Value)
	}
	fmt.Println()
	// Output: a=new c=old d=new
}

// Entries is the committer's walk: every key with its kind and flags.
func ExampleBuffer_Entries() {
	b := membuf.New()
	_ = b.SetWithFlags([]byte("k1"), []byte("v"), membuf.SetPresumeKeyNotExists)
	_ = b.Delete([]byte("k2"))
	_ = b.UpdateFlags([]byte("k3"), membuf.SetKeyLocked)
	for e, err := range b.Entries(nil, nil) {
		if err != nil {
			return
		}
		fmt.Println(string(e.Key), e.Kind, e.Flags.HasPresumeKeyNotExists(), e.Flags.HasLocked())
	}
	// Output:
	// k1 put true false
	// k2 delete false false
	// k3 none false true
}
