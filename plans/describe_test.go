package plans_test

import (
	"errors"
	"net"
	"sync"
	"testing"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/plans"
	"github.com/tikvgo/tikv/transport"
)

// echoStore is a TiKV store that serves one RPC the command table lacks,
// through grpc's unknown-service handler, as a newer TiKV would serve a
// command this client does not wrap. It answers the first request with
// ServerIsBusy, so the call proves pipeline.Retry's region-error handling
// for a described command, then echoes the key as the value, or a lock
// when the key is "locked".
type echoStore struct {
	method string
	addr   string

	mu   sync.Mutex
	seen []*kvrpcpb.GetRequest
}

func startEchoStore(t *testing.T, method string) *echoStore {
	t.Helper()
	s := &echoStore{method: method}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer(grpc.UnknownServiceHandler(s.handle))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	s.addr = lis.Addr().String()
	return s
}

func (s *echoStore) handle(_ any, stream grpc.ServerStream) error {
	m, _ := grpc.MethodFromServerStream(stream)
	if m != s.method {
		return status.Errorf(codes.Unimplemented, "unknown method %s", m)
	}
	req := &kvrpcpb.GetRequest{}
	if err := stream.RecvMsg(req); err != nil {
		return err
	}
	s.mu.Lock()
	s.seen = append(s.seen, req)
	first := len(s.seen) == 1
	s.mu.Unlock()
	resp := &kvrpcpb.GetResponse{Value: append([]byte("echo:"), req.Key...)}
	switch {
	case first:
		resp = &kvrpcpb.GetResponse{RegionError: &errorpb.Error{Message: "busy", ServerIsBusy: &errorpb.ServerIsBusy{Reason: "test"}}}
	case string(req.Key) == "locked":
		resp = &kvrpcpb.GetResponse{Error: &kvrpcpb.KeyError{Locked: &kvrpcpb.LockInfo{Key: req.Key, PrimaryLock: []byte("p"), LockVersion: 3}}}
	}
	return stream.SendMsg(resp)
}

func (s *echoStore) requests() []*kvrpcpb.GetRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*kvrpcpb.GetRequest(nil), s.seen...)
}

// TestDescribedCommandThroughRetry calls a command the table lacks end to
// end: described with transport.Describe, wrapped in a pipeline.Method with
// a standard error mapper, sent by pipeline.Retry through the cluster's
// middleware (the keyspace layer under API v1) and the gRPC Pool, routed
// by PD's real region metadata (mocktikv's PD, with the store's address
// pointing at the echo store).
func TestDescribedCommandThroughRetry(t *testing.T) {
	cmd, err := transport.Describe[*kvrpcpb.GetRequest, *kvrpcpb.GetResponse](transport.CmdDesc{
		Name: "TestKvGetEcho", KeyMode: kv.ModeTxn,
	})
	require.NoError(t, err)
	store := startEchoStore(t, "/tikvpb.Tikv/TestKvGetEcho")

	mock := mocktikv.Start(t, mocktikv.WithStores(1))
	storeID := mock.StoreIDs()[0]
	require.NoError(t, mock.SetStoreAddress(storeID, store.addr))
	cluster, err := tikv.Connect(t.Context(), mock.PDAddrs())
	require.NoError(t, err)
	t.Cleanup(func() { _ = cluster.Close() })
	env := cluster.EnvFor(kv.ModeTxn)

	echo := pipeline.Method[*kvrpcpb.GetRequest, *kvrpcpb.GetResponse]{
		Cmd: cmd, Err: plans.KeyErr[*kvrpcpb.GetResponse](), Idempotent: true, Read: true,
	}
	step := pipeline.Retry(env, echo)
	region, err := env.Locator.Locate(t.Context(), []byte("k"))
	require.NoError(t, err)

	req := &kvrpcpb.GetRequest{Key: []byte("k"), Version: 42}
	resp, err := step(t.Context(), region, req)
	require.NoError(t, err)
	require.Equal(t, "echo:k", string(resp.Value))
	require.Nil(t, req.Context, "Retry must not modify the caller's request")

	seen := store.requests()
	require.Len(t, seen, 2, "ServerIsBusy, then the answer")
	for i, r := range seen {
		require.Equal(t, region.ID(), r.Context.GetRegionId(), "attempt %d", i)
		require.Equal(t, storeID, r.Context.GetPeer().GetStoreId(), "attempt %d", i)
		require.NotNil(t, r.Context.GetRegionEpoch(), "attempt %d", i)
		require.Equal(t, uint64(42), r.Version)
	}
	require.False(t, seen[0].Context.IsRetryRequest)
	require.True(t, seen[1].Context.IsRetryRequest)

	// The key-error mapper works for the described command too.
	resp, err = step(t.Context(), region, &kvrpcpb.GetRequest{Key: []byte("locked")})
	var le *kv.LockedError
	require.ErrorAs(t, err, &le)
	require.True(t, errors.Is(err, kv.ErrKeyLocked))
	require.Equal(t, uint64(3), le.Locks[0].StartTS)
	require.NotNil(t, resp, "the response comes back beside its key error")

	// A raw environment refuses the described txn command: its keys would
	// be routed by the wrong regions.
	_, err = pipeline.Retry(cluster.EnvFor(kv.ModeRaw), echo)(t.Context(), region, req)
	var me *kv.KeyModeError
	require.ErrorAs(t, err, &me)
	require.Equal(t, kv.ModeTxn, me.CmdMode)
}
