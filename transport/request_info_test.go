package transport

import (
	"errors"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/pingcap/kvproto/pkg/coprocessor"
	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/tikvpb"
	"github.com/stretchr/testify/require"

	"github.com/tikvgo/tikv/kv"
)

// TestRequestStartTS: each transactional command reports the timestamp
// client-go's Request.GetStartTS reads from it; raw and store-level
// commands report 0.
func TestRequestStartTS(t *testing.T) {
	for _, tc := range []struct {
		msg  Message
		want uint64
	}{
		{&kvrpcpb.GetRequest{Version: 1}, 1},
		{&kvrpcpb.ScanRequest{Version: 2}, 2},
		{&kvrpcpb.BatchGetRequest{Version: 3}, 3},
		{&kvrpcpb.BufferBatchGetRequest{Version: 4}, 4},
		{&kvrpcpb.PrewriteRequest{StartVersion: 5}, 5},
		{&kvrpcpb.CommitRequest{StartVersion: 6, CommitVersion: 99}, 6},
		{&kvrpcpb.CleanupRequest{StartVersion: 7}, 7},
		{&kvrpcpb.BatchRollbackRequest{StartVersion: 8}, 8},
		{&kvrpcpb.ScanLockRequest{MaxVersion: 9}, 9},
		{&kvrpcpb.ResolveLockRequest{StartVersion: 10, CommitVersion: 99}, 10},
		{&kvrpcpb.PessimisticLockRequest{StartVersion: 11, ForUpdateTs: 99}, 11},
		{&kvrpcpb.PessimisticRollbackRequest{StartVersion: 12}, 12},
		{&kvrpcpb.TxnHeartBeatRequest{StartVersion: 13}, 13},
		{&kvrpcpb.CheckTxnStatusRequest{LockTs: 14, CallerStartTs: 99}, 14},
		{&kvrpcpb.CheckSecondaryLocksRequest{StartVersion: 15}, 15},
		{&kvrpcpb.FlashbackToVersionRequest{StartTs: 16, Version: 99}, 16},
		{&kvrpcpb.PrepareFlashbackToVersionRequest{StartTs: 17}, 17},
		{&kvrpcpb.FlushRequest{StartTs: 18}, 18},
		{&kvrpcpb.MvccGetByStartTsRequest{StartTs: 19}, 19},
		{&coprocessor.Request{StartTs: 20}, 20},
		{&kvrpcpb.RawGetRequest{Key: []byte("k")}, 0},
		{&kvrpcpb.StoreSafeTSRequest{}, 0},
	} {
		if got := (&Request{Msg: tc.msg}).StartTS(); got != tc.want {
			t.Errorf("%T: StartTS = %d, want %d", tc.msg, got, tc.want)
		}
	}
}

// TestRequestResponseSize: Size is the message's encoded length, for a
// request and a response alike.
func TestRequestResponseSize(t *testing.T) {
	req := &kvrpcpb.RawPutRequest{Context: &kvrpcpb.Context{RegionId: 3}, Key: []byte("key"), Value: []byte("value")}
	wire, err := req.Marshal()
	require.NoError(t, err)
	require.Equal(t, len(wire), (&Request{Cmd: CmdRawPut, Msg: req}).Size())
	resp := &kvrpcpb.RawGetResponse{Value: []byte("a longer value")}
	wire, err = resp.Marshal()
	require.NoError(t, err)
	require.Equal(t, len(wire), (&Response{Msg: resp}).Size())
	require.Zero(t, (&Request{Cmd: CmdRawGet, Msg: &kvrpcpb.RawGetRequest{}}).Size())
}

// TestCmdWriteClassification: every command client-go's
// IsTxnWriteRequest and IsRawWriteRequest list is classified so here, and
// no read or store-level command is.
func TestCmdWriteClassification(t *testing.T) {
	clientGoTxnWrites := []Cmd{CmdPessimisticLock, CmdPrewrite, CmdCommit, CmdBatchRollback, CmdPessimisticRollback,
		CmdCheckTxnStatus, CmdCheckSecondaryLocks, CmdCleanup, CmdTxnHeartBeat, CmdResolveLock,
		CmdFlashbackToVersion, CmdPrepareFlashbackToVersion, CmdFlush}
	clientGoRawWrites := []Cmd{CmdRawPut, CmdRawBatchPut, CmdRawDelete}
	for _, c := range clientGoTxnWrites {
		require.True(t, c.IsTxnWrite(), "%s", c)
		require.False(t, c.IsRawWrite(), "%s", c)
	}
	for _, c := range clientGoRawWrites {
		require.True(t, c.IsRawWrite(), "%s", c)
		require.False(t, c.IsTxnWrite(), "%s", c)
	}
	for _, c := range allCmds() {
		if !c.IsWrite() {
			require.False(t, c.IsTxnWrite() || c.IsRawWrite(), "%s is a read", c)
		}
		if _, ok := c.KeyMode(); !ok {
			require.False(t, c.IsTxnWrite() || c.IsRawWrite(), "%s has no key space", c)
		}
	}
	require.True(t, CmdRawCompareAndSwap.IsRawWrite())
	require.True(t, CmdRawDeleteRange.IsRawWrite())
}

// TestRegionErrorResponseEveryCmd: for every command whose response has a
// region_error (all but GetStoreSafeTS and BroadcastTxnStatus), RegionErrorResponse builds the
// response of the command's type carrying exactly that error (client-go's
// GenRegionErrorResp), and Response.RegionError reads it back.
func TestRegionErrorResponseEveryCmd(t *testing.T) {
	e := &errorpb.Error{NotLeader: &errorpb.NotLeader{RegionId: 4}}
	for _, c := range allCmds() {
		resp, err := RegionErrorResponse(c, e)
		if c == CmdStoreSafeTS || c == CmdBroadcastTxnStatus {
			require.True(t, errors.Is(err, kv.ErrInvalidArgument), "%s: %v", c, err)
			continue
		}
		require.NoError(t, err, "%s", c)
		require.IsType(t, c.NewResponse(), resp.Msg, "%s", c)
		require.Same(t, e, resp.RegionError(), "%s", c)
	}
	_, err := RegionErrorResponse(CmdInvalid, e)
	require.True(t, errors.Is(err, kv.ErrInvalidArgument))
	require.Nil(t, (&Response{Msg: &kvrpcpb.StoreSafeTSResponse{}}).RegionError())
}

// TestResponseExecDetailsV2: the exec details a response carries, nil for
// a command that has none.
func TestResponseExecDetailsV2(t *testing.T) {
	d := &kvrpcpb.ExecDetailsV2{TimeDetail: &kvrpcpb.TimeDetail{ProcessWallTimeMs: 5}}
	require.Same(t, d, (&Response{Msg: &kvrpcpb.GetResponse{ExecDetailsV2: d}}).ExecDetailsV2())
	require.Nil(t, (&Response{Msg: &kvrpcpb.RawPutResponse{}}).ExecDetailsV2())
}

// TestAttemptCopiesDoNotRaceBatchMarshal ports client-go's TestTiDB51921
// (tikvrpc/tikvrpc_test.go; TiDB issue 51921): while one goroutine routes
// a request again and again (a re-route and retry) and wraps each attempt
// for a BatchCommands stream, another marshals the wrapped attempts as the
// send loop does. client-go needed copy-on-write in AttachContext for
// this; here every attempt is its own CopyWithContext, so the caller's
// request and earlier attempts are never written, which the race detector
// checks. A fixed number of rounds per batchable command, not a time.
func TestAttemptCopiesDoNotRaceBatchMarshal(t *testing.T) {
	for c := range clientGoBatchable {
		t.Run(c.String(), func(t *testing.T) {
			req := c.NewRequest()
			cmds := make(chan *tikvpb.BatchCommandsRequest_Request, 8)
			var wg sync.WaitGroup
			wg.Go(func() {
				defer close(cmds)
				for range 200 {
					msg, rctx := c.CopyWithContext(req)
					rctx.RegionId = rand.Uint64()
					cmds <- c.WrapBatchRequest(msg)
				}
			})
			wg.Go(func() {
				for cmd := range cmds {
					if _, err := cmd.Marshal(); err != nil {
						t.Error(err)
					}
				}
			})
			wg.Wait()
			require.Nil(t, c.Context(req), "the caller's request was modified")
		})
	}
}
