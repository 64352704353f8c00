package codec_test

import (
	"fmt"

	"github.com/tikvgo/tikv/codec"
)

// A TiDB row key is 't', the table id, "_r" and the row handle, the
// numbers in EncodeInt's sortable form; decoding takes the parts back in
// order.
func Example() {
	key := append(codec.EncodeInt([]byte("t"), 42), "_r"...)
	key = codec.EncodeInt(key, 7)
	rest, table, _ := codec.DecodeInt(key[1:])
	_, handle, _ := codec.DecodeInt(rest[2:])
	fmt.Printf("%x\ntable %d, handle %d\n", key, table, handle)
	// Output:
	// 74800000000000002a5f728000000000000007
	// table 42, handle 7
}
