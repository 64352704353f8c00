package linearizability_test

import (
	"context"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/raw"
	"github.com/tikvgo/tikv/transport"
)

// TestCheckerCatchesResentWrite proves the whole chain (client calls
// recorded by the workload helpers, the history, the model) catches the
// anomaly the chaos run hunts, deterministically: a put whose response is
// lost is resent (raw.AtLeastOnce, client-go's behaviour), and the late
// copy lands after another client's acknowledged put, which a read saw.
// The gate holds the resend until that has happened.
func TestCheckerCatchesResentWrite(t *testing.T) {
	mock := mocktikv.NewCluster(mocktikv.WithStores(1))
	cluster, err := tikv.Connect(t.Context(), nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()))
	if err != nil {
		mock.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cluster.Close()
		mock.Close()
	})
	const key = "k"
	gate := mocktikv.NewGate()
	mock.Inject(mocktikv.Fault{Key: []byte(key), Match: isPutOf("a"), Steps: []mocktikv.Step{
		mocktikv.Times(1, mocktikv.LoseResponse(status.Error(codes.Unavailable, "response lost"))),
		mocktikv.Times(1, mocktikv.Block(gate)),
	}})
	client := raw.NewClient(cluster, raw.WithAtomicForCAS(true))
	w := &workload{client: client, keys: []string{key}, clock: clock{start: time.Now()}, opTimeout: 10 * time.Second}
	ctx := t.Context()
	seen := map[string]register{}

	done := make(chan event, 1)
	go func() {
		done <- w.write(ctx, 0, regInput{kind: opPut, key: key, value: "a"}, func(ctx context.Context) error {
			return client.Put(ctx, []byte(key), []byte("a"), raw.AtLeastOnce())
		})
	}()
	select {
	case <-gate.Arrived():
	case <-ctx.Done():
		t.Fatal("the put was never resent")
	}
	// The first attempt applied "a"; the resend waits at the gate.
	h := history{w.get(ctx, 1, key, seen)}
	h = append(h, w.write(ctx, 1, regInput{kind: opPut, key: key, value: "b"}, func(ctx context.Context) error {
		return client.Put(ctx, []byte(key), []byte("b"))
	}))
	h = append(h, w.get(ctx, 1, key, seen))
	gate.Open()
	h = append(h, <-done)
	h = append(h, w.get(ctx, 1, key, seen))

	want := []string{"get(k) -> a", "put(k=b) -> ok", "get(k) -> b", "put(k=a) -> ok", "get(k) -> a"}
	for i, e := range h {
		if got := describeOp(e.in, e.out); e.outcome != definite || got != want[i] {
			t.Fatalf("call %d: %s (outcome %d, err %v), want %s; history:\n%s", i, got, e.outcome, e.err, want[i], h.dump(key))
		}
	}
	if porcupine.CheckOperations(registerModel(), h.operations(key)) {
		t.Fatalf("the checker accepts a put applied twice around another acknowledged put:\n%s", h.dump(key))
	}
	ops := h.operations(key)
	res, info := porcupine.CheckOperationsVerbose(registerModel(), ops, 0)
	if res != porcupine.Illegal {
		t.Fatalf("verbose check: %v", res)
	}
	t.Logf("diagnosis of the resent put:\n%s", diagnose(h, key, ops, info))
}

// isPutOf matches RawPut requests writing value.
func isPutOf(value string) func(uint64, transport.Cmd, transport.Message) bool {
	return func(_ uint64, cmd transport.Cmd, req transport.Message) bool {
		put, ok := req.(*kvrpcpb.RawPutRequest)
		return cmd == transport.CmdRawPut && ok && string(put.GetValue()) == value
	}
}
