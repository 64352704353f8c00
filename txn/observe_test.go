package txn_test

import (
	"context"
	"sync"
	"testing"

	"github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/observe"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn"
)

type callLog struct {
	mu       sync.Mutex
	started  []observe.Call
	attempts []*transport.Request
}

func (l *callLog) Start(ctx context.Context, c observe.Call) context.Context {
	l.mu.Lock()
	l.started = append(l.started, c)
	l.mu.Unlock()
	return ctx
}
func (l *callLog) Event(context.Context, observe.Event)     {}
func (l *callLog) End(context.Context, observe.Call, error) {}

func (l *callLog) middleware(next transport.Sender) transport.Sender {
	return transport.SenderFunc(func(ctx context.Context, req *transport.Request) (*transport.Response, error) {
		l.mu.Lock()
		cp := *req
		l.attempts = append(l.attempts, &cp)
		l.mu.Unlock()
		return next.Send(ctx, req)
	})
}

// TestCommitIsOneObservedCall: a commit is one logical call, TxnCommit:
// its prewrite and its primary's commit carry the call's identity, and the
// observer sees one start for it.
func TestCommitIsOneObservedCall(t *testing.T) {
	mock := mocktikv.NewCluster()
	defer mock.Close()
	l := &callLog{}
	cluster, err := tikv.Connect(context.Background(), nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()),
		tikv.WithObserver(l), tikv.WithMiddleware(l.middleware))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	client := txn.NewClient(cluster)
	defer client.Close(context.Background())
	tx, _ := client.Begin(t.Context())
	_ = tx.Set([]byte("k"), []byte("v"))
	l.mu.Lock()
	l.started, l.attempts = nil, nil
	l.mu.Unlock()
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.started) != 1 || l.started[0].API != "TxnCommit" {
		t.Fatalf("calls started: %v", l.started)
	}
	if len(l.attempts) != 2 || l.attempts[0].Cmd != transport.CmdPrewrite || l.attempts[1].Cmd != transport.CmdCommit ||
		l.attempts[0].Call != l.started[0] || l.attempts[1].Call != l.started[0] {
		t.Fatalf("attempts: %v %v / %v %v", l.attempts[0].Cmd, l.attempts[0].Call, l.attempts[len(l.attempts)-1].Cmd, l.attempts[len(l.attempts)-1].Call)
	}
}
