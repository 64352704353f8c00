package txn_test

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn"
)

// servedRead is one read request as a store received it.
type servedRead struct {
	store       uint64
	cmd         transport.Cmd
	staleRead   bool
	replicaRead bool
	busyMs      uint32
}

// storeLog records, server side (mocktikv.OnRequest), which store received
// each snapshot read and with which read flags; it sees the same in
// process and over gRPC.
type storeLog struct {
	mu    sync.Mutex
	reads []servedRead
}

func (l *storeLog) observe(storeID uint64, cmd transport.Cmd, req transport.Message) {
	if cmd != transport.CmdGet && cmd != transport.CmdBatchGet && cmd != transport.CmdScan {
		return
	}
	c := cmd.Context(req)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reads = append(l.reads, servedRead{store: storeID, cmd: cmd, staleRead: c.GetStaleRead(),
		replicaRead: c.GetReplicaRead(), busyMs: c.GetBusyThresholdMs()})
}

// take returns the reads recorded since the last take.
func (l *storeLog) take() []servedRead {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.reads
	l.reads = nil
	return out
}

// zones are the store labels of the replica-read clusters: store n is in
// zone "zn".
func zone(n int) map[string]string { return map[string]string{"zone": "z" + string(rune('0'+n))} }

// newReplicaCluster runs a txn.Client on a three-store mocktikv (every
// region has a peer on each store, its leader on store 1) whose stores are
// labelled zone=z1..z3, in process or over gRPC, and records the reads the
// stores receive.
func newReplicaCluster(t *testing.T, grpc bool, mockOpts []mocktikv.Option, opts ...txn.Option) (*portCluster, *storeLog) {
	t.Helper()
	mockOpts = append([]mocktikv.Option{mocktikv.WithStores(3)}, mockOpts...)
	var mock *mocktikv.Cluster
	if grpc {
		mock = mocktikv.Start(t, mockOpts...)
	} else {
		mock = mocktikv.NewCluster(mockOpts...)
	}
	for n := 1; n <= 3; n++ {
		if err := mock.SetStoreLabels(uint64(n), zone(n)); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range mock.Regions() {
		if err := mock.TransferLeader(r.GetId(), 1); err != nil {
			t.Fatal(err)
		}
	}
	sl := &storeLog{}
	mock.OnRequest(sl.observe)
	log := &cmdLog{}
	var cluster *tikv.Cluster
	var err error
	if grpc {
		cluster, err = tikv.Connect(t.Context(), mock.PDAddrs(), tikv.WithMiddleware(log.middleware))
	} else {
		cluster, err = tikv.Connect(context.Background(), nil, tikv.WithPD(mock.PD()),
			tikv.WithTransport(mock.Sender()), tikv.WithMiddleware(log.middleware))
	}
	return finishPortCluster(t, grpc, mock, log, cluster, err, opts...), sl
}

// bothWays runs f in process and over gRPC.
func bothWays(t *testing.T, f func(t *testing.T, grpc bool)) {
	t.Run("in-process", func(t *testing.T) { f(t, false) })
	t.Run("grpc", func(t *testing.T) { f(t, true) })
}

// stores returns the stores the reads went to, in order.
func stores(reads []servedRead) []uint64 {
	out := make([]uint64, 0, len(reads))
	for _, r := range reads {
		out = append(out, r.store)
	}
	return out
}

// allOn reports whether every read went to store.
func allOn(reads []servedRead, store uint64) bool {
	return len(reads) > 0 && !slices.ContainsFunc(reads, func(r servedRead) bool { return r.store != store })
}
