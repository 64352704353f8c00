package txn_test

import (
	"fmt"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/stretchr/testify/require"

	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn/membuf"
)

// TestPortFlagsInMutations ports client-go integration_tests/2pc_test.go
// TestFlagsInMemBufferMutations through the public Txn: every op a
// buffered key can become (Put, Del, CheckNotExists: inserted then
// deleted) with every assertion its flags can hold reaches the prewrite
// as that op and assertion; both assertion bits ("unknown") assert
// nothing, as client-go's HasAssertExist/HasAssertNotExist read them.
// (client-go checks the bit packing of its mutation list; the pessimistic
// lock flag is #12's.)
func TestPortFlagsInMutations(t *testing.T) {
	client, log := newWireClient(t)
	ctx := t.Context()
	tx, err := client.Begin(ctx)
	require.NoError(t, err)
	type want struct {
		op        kvrpcpb.Op
		assertion kvrpcpb.Assertion
	}
	assertions := []struct {
		op   membuf.FlagsOp
		want kvrpcpb.Assertion
	}{
		{membuf.SetAssertNone, kvrpcpb.Assertion_None},
		{membuf.SetAssertExist, kvrpcpb.Assertion_Exist},
		{membuf.SetAssertNotExist, kvrpcpb.Assertion_NotExist},
		{membuf.SetAssertUnknown, kvrpcpb.Assertion_None},
	}
	wants := map[string]want{}
	i := 0
	for _, op := range []kvrpcpb.Op{kvrpcpb.Op_Put, kvrpcpb.Op_Del, kvrpcpb.Op_CheckNotExists} {
		for _, a := range assertions {
			key := []byte(fmt.Sprintf("flags_%05d", i))
			i++
			switch op {
			case kvrpcpb.Op_Put:
				require.NoError(t, tx.Set(key, []byte("v")))
			case kvrpcpb.Op_Del:
				require.NoError(t, tx.Delete(key))
			case kvrpcpb.Op_CheckNotExists:
				require.NoError(t, tx.Insert(key, []byte("v")))
				require.NoError(t, tx.Delete(key))
			}
			require.NoError(t, tx.MemBuffer().UpdateFlags(key, a.op))
			wants[string(key)] = want{op, a.want}
		}
	}
	require.NoError(t, tx.Commit(ctx))

	got := map[string]want{}
	for _, m := range log.messages(transport.CmdPrewrite) {
		for _, mut := range m.(*kvrpcpb.PrewriteRequest).Mutations {
			got[string(mut.Key)] = want{mut.Op, mut.Assertion}
		}
	}
	require.Equal(t, wants, got)
}
