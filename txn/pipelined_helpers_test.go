package txn_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/plans"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn"
)

// plCluster is what the pipelined DML tests run on: a mocktikv cluster
// (in-process or over gRPC), a txn.Client on it, a count of the commands
// sent and a gate that can hold one command's requests.
type plCluster struct {
	t       *testing.T
	mock    *mocktikv.Cluster
	cluster *tikv.Cluster
	client  *txn.Client
	gate    *cmdGate
	// closedByTest: the test closed the client itself (with an error).
	closedByTest bool
}

// cmdGate counts requests per command and holds those of one command
// until it is opened.
type cmdGate struct {
	mu     sync.Mutex
	counts map[transport.Cmd]int
	hold   transport.Cmd
	held   chan struct{} // receives once per held request
	open   chan struct{}
	// statuses are the BroadcastTxnStatus requests sent, in order.
	statuses []sentStatus
}

// sentStatus is one TxnStatus broadcast to one store.
type sentStatus struct {
	store  uint64
	status *kvrpcpb.TxnStatus
}

func (g *cmdGate) middleware(next transport.Sender) transport.Sender {
	return transport.SenderFunc(func(ctx context.Context, req *transport.Request) (*transport.Response, error) {
		g.mu.Lock()
		g.counts[req.Cmd]++
		if m, ok := req.Msg.(*kvrpcpb.BroadcastTxnStatusRequest); ok {
			for _, st := range m.TxnStatus {
				g.statuses = append(g.statuses, sentStatus{store: req.Target.StoreID, status: st})
			}
		}
		hold, open, held := g.hold == req.Cmd, g.open, g.held
		g.mu.Unlock()
		if hold {
			select {
			case held <- struct{}{}:
			default:
			}
			select {
			case <-open:
			case <-ctx.Done():
				return nil, fmt.Errorf("held: %w", transport.ErrNotSent)
			}
		}
		return next.Send(ctx, req)
	})
}

// holdCmd holds cmd's requests until the returned func is called.
func (g *cmdGate) holdCmd(cmd transport.Cmd) (held <-chan struct{}, release func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.hold, g.open, g.held = cmd, make(chan struct{}), make(chan struct{}, 1)
	open := g.open
	var once sync.Once
	return g.held, func() { once.Do(func() { close(open) }) }
}

func (g *cmdGate) count(cmd transport.Cmd) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.counts[cmd]
}

// broadcasts returns the statuses broadcast so far.
func (g *cmdGate) broadcasts() []sentStatus {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.statuses)
}

func newPlCluster(t *testing.T, grpc bool, opts ...mocktikv.Option) *plCluster {
	t.Helper()
	gate := &cmdGate{counts: map[transport.Cmd]int{}}
	var mock *mocktikv.Cluster
	var cluster *tikv.Cluster
	var err error
	if grpc {
		mock = mocktikv.Start(t, opts...)
		cluster, err = tikv.Connect(t.Context(), mock.PDAddrs(), tikv.WithMiddleware(gate.middleware))
	} else {
		mock = mocktikv.NewCluster(opts...)
		cluster, err = tikv.Connect(context.Background(), nil, tikv.WithPD(mock.PD()),
			tikv.WithTransport(mock.Sender()), tikv.WithMiddleware(gate.middleware))
	}
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	p := &plCluster{t: t, mock: mock, cluster: cluster, gate: gate}
	p.client = txn.NewClient(cluster)
	client := p.client
	t.Cleanup(func() {
		if err := client.Close(context.Background()); err != nil && !p.closedByTest {
			t.Errorf("client close: %v", err)
		}
		cluster.Close()
		if !grpc {
			mock.Close()
		}
	})
	return p
}

// eachTransport runs f in-process and over gRPC.
func eachTransport(t *testing.T, f func(t *testing.T, grpc bool)) {
	for _, grpc := range []bool{false, true} {
		name := "inprocess"
		if grpc {
			name = "grpc"
		}
		t.Run(name, func(t *testing.T) { f(t, grpc) })
	}
}

func (p *plCluster) begin(opts ...txn.BeginOption) *txn.Txn {
	p.t.Helper()
	tx, err := p.client.Begin(context.Background(), opts...)
	if err != nil {
		p.t.Fatalf("begin: %v", err)
	}
	return tx
}

// locksOf returns the keys locked by the transaction startTS, over the
// whole key space (KvScanLock region by region).
func (p *plCluster) locksOf(startTS uint64) []string {
	p.t.Helper()
	env := p.cluster.EnvFor(kv.ModeTxn)
	scan := pipeline.Collect(pipeline.Shard(env, pipeline.ByRange(
		func(r *kvrpcpb.ScanLockRequest) ([]byte, []byte) { return r.StartKey, r.EndKey },
		func(r *kvrpcpb.ScanLockRequest, s, e []byte) *kvrpcpb.ScanLockRequest {
			c := *r
			c.StartKey, c.EndKey = s, e
			return &c
		}), pipeline.Retry(env, plans.KvScanLock)), (*kvrpcpb.ScanLockResponse).GetLocks)
	locks, err := scan(context.Background(), &kvrpcpb.ScanLockRequest{MaxVersion: math.MaxUint64})
	if err != nil {
		p.t.Fatalf("scan locks: %v", err)
	}
	var out []string
	for _, l := range locks {
		if l.LockVersion == startTS {
			out = append(out, string(l.Key))
		}
	}
	return out
}

// mustRead checks that a fresh transaction reads want for each key
// (absent when want is "").
func (p *plCluster) mustRead(want map[string]string) {
	p.t.Helper()
	tx := p.begin()
	defer func() { _ = tx.Rollback() }()
	keys := make([][]byte, 0, len(want))
	for k := range want {
		keys = append(keys, []byte(k))
	}
	vals, err := tx.BatchGet(context.Background(), keys)
	if err != nil {
		p.t.Fatalf("batch get: %v", err)
	}
	for i, k := range keys {
		if string(vals[i]) != want[string(k)] {
			p.t.Fatalf("read %q = %q, want %q", k, vals[i], want[string(k)])
		}
	}
}

// waitFor polls cond until it holds or 10 s passed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// smallFlush makes a pipelined transaction flush every n keys.
func smallFlush(n int) txn.PipelinedOptions {
	return txn.PipelinedOptions{MinFlushKeys: n, MinFlushSize: 1}
}

func isNotFound(err error) bool { return errors.Is(err, kv.ErrNotFound) }

// setRows sets plKey(i) = i for i < n in tx and returns what it wrote.
func setRows(t *testing.T, tx *txn.Txn, n int) map[string]string {
	t.Helper()
	want := make(map[string]string, n)
	for i := range n {
		if err := tx.Set(plKey(i), []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
		want[string(plKey(i))] = strconv.Itoa(i)
	}
	return want
}
