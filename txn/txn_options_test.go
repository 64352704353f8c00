package txn_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/stretchr/testify/require"

	"github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn"
)

// wireLog is a middleware keeping every request the client sent.
type wireLog struct {
	mu   sync.Mutex
	reqs []*transport.Request
}

func (l *wireLog) middleware(next transport.Sender) transport.Sender {
	return transport.SenderFunc(func(ctx context.Context, req *transport.Request) (*transport.Response, error) {
		l.mu.Lock()
		l.reqs = append(l.reqs, req)
		l.mu.Unlock()
		return next.Send(ctx, req)
	})
}

// contexts returns the Context of every request of cmd sent so far.
func (l *wireLog) contexts(cmd transport.Cmd) []*kvrpcpb.Context {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*kvrpcpb.Context
	for _, r := range l.reqs {
		if r.Cmd == cmd {
			out = append(out, cmd.Context(r.Msg))
		}
	}
	return out
}

// messages returns the requests of cmd sent so far.
func (l *wireLog) messages(cmd transport.Cmd) []transport.Message {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []transport.Message
	for _, r := range l.reqs {
		if r.Cmd == cmd {
			out = append(out, r.Msg)
		}
	}
	return out
}

// all returns every request sent so far.
func (l *wireLog) all() []*transport.Request {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*transport.Request(nil), l.reqs...)
}

// newWireClient is a client on an in-process mocktikv split at "m", with
// a wireLog on its connection.
func newWireClient(t *testing.T, opts ...txn.Option) (*txn.Client, *wireLog) {
	t.Helper()
	mock := mocktikv.NewCluster(mocktikv.WithTxnSplitKeys([]byte("m")))
	log := &wireLog{}
	cluster, err := tikv.Connect(context.Background(), nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()),
		tikv.WithMiddleware(log.middleware))
	require.NoError(t, err)
	client := txn.NewClient(cluster, opts...)
	t.Cleanup(func() {
		if err := client.Close(context.Background()); err != nil {
			t.Errorf("client close: %v", err)
		}
		cluster.Close()
		mock.Close()
	})
	return client, log
}

// TestTxnRequestContextOnTheWire: a transaction's request options reach
// the Context of its reads (the fields snapshots have) and of every
// prewrite and commit, primary and secondaries (client-go's KVTxn
// SetPriority, SetResourceGroupTag/Name, SetDiskFullOpt, SetTxnSource,
// EnableForceSyncLog, request source); the client's defaults
// (CommitOptions.Context) fill the fields the transaction leaves unset.
func TestTxnRequestContextOnTheWire(t *testing.T) {
	client, log := newWireClient(t, txn.WithCommitOptions(txn.CommitOptions{Context: txn.RequestContext{
		RequestSource: "client-source", ResourceGroupName: "rg-client", Priority: kvrpcpb.CommandPri_Low,
	}}))
	ctx := t.Context()
	tx, err := client.Begin(ctx, txn.WithTxnPriority(kvrpcpb.CommandPri_High), txn.WithTxnResourceGroupTag([]byte("tag")),
		txn.WithDiskFullOpt(kvrpcpb.DiskFullOpt_AllowedOnAlmostFull), txn.WithTxnSource(5), txn.WithSyncLog(),
		txn.WithMaxWriteExecution(9*time.Second))
	require.NoError(t, err)
	_, err = tx.BatchGet(ctx, [][]byte{[]byte("a"), []byte("z")})
	require.NoError(t, err)
	require.NoError(t, tx.Set([]byte("a"), []byte("1")))
	require.NoError(t, tx.Set([]byte("z"), []byte("2")))
	require.NoError(t, tx.Commit(ctx))
	require.Equal(t, txn.RequestContext{Priority: kvrpcpb.CommandPri_High, ResourceGroupTag: []byte("tag"),
		DiskFullOpt: kvrpcpb.DiskFullOpt_AllowedOnAlmostFull, TxnSource: 5, SyncLog: true, MaxExecution: 9 * time.Second},
		tx.RequestContext())
	require.NoError(t, client.Close(ctx)) // the secondaries' commit is done

	reads := log.contexts(transport.CmdBatchGet)
	require.Len(t, reads, 2, "one BatchGet per region")
	for _, c := range reads {
		require.Equal(t, kvrpcpb.CommandPri_High, c.Priority)
		require.Equal(t, []byte("tag"), c.ResourceGroupTag)
	}
	writes := append(log.contexts(transport.CmdPrewrite), log.contexts(transport.CmdCommit)...)
	require.Len(t, writes, 4, "a prewrite and a commit per region")
	for _, c := range writes {
		require.Equal(t, kvrpcpb.CommandPri_High, c.Priority, "the transaction's priority wins")
		require.Equal(t, "client-source", c.RequestSource, "the client's default")
		require.Equal(t, []byte("tag"), c.ResourceGroupTag)
		require.Equal(t, "rg-client", c.GetResourceControlContext().GetResourceGroupName())
		require.Equal(t, kvrpcpb.DiskFullOpt_AllowedOnAlmostFull, c.DiskFullOpt)
		require.Equal(t, uint64(5), c.TxnSource)
		require.True(t, c.SyncLog)
		require.Equal(t, uint64(9000), c.MaxExecutionDurationMs)
		require.NotZero(t, c.RegionId, "routing fields are still set")
	}
}

// TestTxnRequestSourceOverridesClient: the transaction's request source
// and resource group name replace the client's for reads and writes; a
// transaction without options writes with the client's defaults and the
// pipeline's 20 s execution limit.
func TestTxnRequestSourceOverridesClient(t *testing.T) {
	client, log := newWireClient(t,
		txn.WithSnapshotOptions(txn.WithRequestSource("client-read")),
		txn.WithCommitOptions(txn.CommitOptions{Context: txn.RequestContext{RequestSource: "client-write"}}))
	ctx := t.Context()
	plain, err := client.Begin(ctx)
	require.NoError(t, err)
	require.NoError(t, plain.Set([]byte("a"), []byte("1")))
	require.NoError(t, plain.Commit(ctx))
	for _, c := range log.contexts(transport.CmdPrewrite) {
		require.Equal(t, "client-write", c.RequestSource)
		require.Equal(t, uint64(20000), c.MaxExecutionDurationMs)
		require.Zero(t, c.TxnSource)
		require.Equal(t, kvrpcpb.DiskFullOpt_NotAllowedOnFull, c.DiskFullOpt)
	}

	own, err := client.Begin(ctx, txn.WithTxnRequestSource("txn-source"), txn.WithTxnResourceGroupName("rg-txn"))
	require.NoError(t, err)
	_, err = own.Get(ctx, []byte("b"))
	require.ErrorIs(t, err, kv.ErrNotFound)
	require.NoError(t, own.Set([]byte("b"), []byte("2")))
	require.NoError(t, own.Commit(ctx))
	gets := log.contexts(transport.CmdGet)
	require.Len(t, gets, 1)
	require.Equal(t, "txn-source", gets[0].RequestSource)
	require.Equal(t, "rg-txn", gets[0].GetResourceControlContext().GetResourceGroupName())
	prewrites := log.contexts(transport.CmdPrewrite)
	require.Len(t, prewrites, 2)
	require.Equal(t, "txn-source", prewrites[1].RequestSource)
	require.Equal(t, "rg-txn", prewrites[1].GetResourceControlContext().GetResourceGroupName())
}

// TestPortCommitOnTiKVDiskFullOpt ports client-go
// integration_tests/2pc_test.go TestCommitOnTiKVDiskFullOpt: with TiKV's
// disk almost full (client-go's rpcAllowedOnAlmostFull failpoint; here a
// fault answering DiskFull to every prewrite that does not allow it), a
// transaction begun WithDiskFullOpt(AllowedOnAlmostFull) commits and one
// without it does not.
func TestPortCommitOnTiKVDiskFullOpt(t *testing.T) {
	p := newPortCluster(t, false, nil)
	full := p.mock.Inject(mocktikv.Fault{Cmd: transport.CmdPrewrite,
		Match: func(_ uint64, _ transport.Cmd, req transport.Message) bool {
			return req.(*kvrpcpb.PrewriteRequest).GetContext().GetDiskFullOpt() != kvrpcpb.DiskFullOpt_AllowedOnAlmostFull
		},
		Steps: []mocktikv.Step{mocktikv.Always(mocktikv.RegionError(&errorpb.Error{
			DiskFull: &errorpb.DiskFull{StoreId: []uint64{1}, Reason: "disk almost full"},
		}))}})

	allowed := p.begin(txn.WithDiskFullOpt(kvrpcpb.DiskFullOpt_AllowedOnAlmostFull))
	require.NoError(t, allowed.Set([]byte("a"), []byte("a1")))
	require.NoError(t, allowed.Commit(t.Context()))
	require.Zero(t, full.Hits(), "the allowed prewrite was not refused")
	p.mustGet("a", "a1")

	refused := p.begin()
	require.NoError(t, refused.Set([]byte("c"), []byte("c1")))
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	require.Error(t, refused.Commit(ctx))
	require.NotZero(t, full.Hits(), "the prewrite met the full disk")
	p.mustGet("c", "")
}

// TestTxnMemAndString: a transaction's buffer holds no memory until it
// buffers a write (client-go's TestReadOnlyZeroMem, through KVTxn.Mem),
// and the transaction prints as its start ts (KVTxn.String).
func TestTxnMemAndString(t *testing.T) {
	client, _ := newWireClient(t)
	tx, err := client.Begin(t.Context())
	require.NoError(t, err)
	require.Zero(t, tx.Mem())
	_, err = tx.Get(t.Context(), []byte("a"))
	require.ErrorIs(t, err, kv.ErrNotFound)
	require.Zero(t, tx.Mem(), "a read buffers nothing")
	require.NoError(t, tx.Set([]byte("a"), []byte("1")))
	require.NotZero(t, tx.Mem())
	require.GreaterOrEqual(t, tx.Mem(), tx.Size(), "the buffer holds at least the keys and values")
	require.Equal(t, strconv.FormatUint(tx.StartTS(), 10), tx.String())
	require.Equal(t, tx.String(), fmt.Sprint(tx))
}
