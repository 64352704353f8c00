package mocktikv

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tikvgo/tikv/transport"
)

// sendMode is one way tikvgo's client reaches a store: the in-process
// Sender, or its gRPC transport (transport.Pool) against the served
// cluster, batched (the BatchCommands stream) or unary.
type sendMode string

const (
	modeInProcess sendMode = "in-process"
	modeGRPCBatch sendMode = "grpc-batch"
	modeGRPCUnary sendMode = "grpc-unary"
)

var allSendModes = []sendMode{modeInProcess, modeGRPCBatch, modeGRPCUnary}

// senderFor returns the client-side Sender of mode for c (served), closed
// with the test.
func senderFor(t *testing.T, c *Cluster, mode sendMode) transport.Sender {
	t.Helper()
	switch mode {
	case modeInProcess:
		return c.Sender()
	case modeGRPCBatch, modeGRPCUnary:
		var opts []transport.PoolOption
		if mode == modeGRPCUnary {
			opts = append(opts, transport.WithoutBatch())
		}
		p := transport.NewPool(opts...)
		t.Cleanup(func() { p.Close() })
		return p
	}
	t.Fatalf("unknown mode %q", mode)
	return nil
}

// putVia sends a RawPut of key to its leader through s, as the client
// would, addressed both ways (store id for the in-process Sender, address
// for the Pool).
func putVia(ctx context.Context, c *Cluster, s transport.Sender, key string) error {
	rctx := leaderCtx(c, key)
	id := rctx.GetPeer().GetStoreId()
	_, err := s.Send(ctx, &transport.Request{
		Cmd:    transport.CmdRawPut,
		Msg:    &kvrpcpb.RawPutRequest{Context: rctx, Key: []byte(key), Value: []byte("v")},
		Target: transport.Target{StoreID: id, Addr: c.StoreAddr(id)},
	})
	return err
}

// warmUp sends a RawGet through s, so that a Pool has its connection
// and stream up before the test scripts a failure.
func warmUp(t *testing.T, c *Cluster, s transport.Sender) {
	t.Helper()
	rctx := leaderCtx(c, "warm")
	id := rctx.GetPeer().GetStoreId()
	_, err := s.Send(timeout(t), &transport.Request{
		Cmd:    transport.CmdRawGet,
		Msg:    &kvrpcpb.RawGetRequest{Context: rctx, Key: []byte("warm")},
		Target: transport.Target{StoreID: id, Addr: c.StoreAddr(id)},
	})
	noErr(t, err)
}

// classification is what a caller can branch on: whether the request
// provably never left (safe to resend even if not idempotent) and the
// gRPC status code.
type classification struct {
	notSent bool
	code    codes.Code
}

func (c classification) String() string {
	return fmt.Sprintf("{notSent=%v code=%v}", c.notSent, c.code)
}

func classify(err error) classification {
	return classification{notSent: errors.Is(err, transport.ErrNotSent), code: status.Code(err)}
}

// TestFaultClassification: for every kind of failure a test can script,
// the in-process Sender fails exactly as tikvgo's gRPC transport does
// against the served cluster, batched and unary: same ErrNotSent-or-not,
// same gRPC code, same effect on the data. The expected values are what
// the gRPC path returns (measured, not assumed); the in-process Sender is
// made to match them.
func TestFaultClassification(t *testing.T) {
	cases := []struct {
		name string
		want classification
		// run scripts the failure on c and sends one RawPut of "a"
		// through s, returning its error.
		run func(t *testing.T, c *Cluster, s transport.Sender) error
		// applied is whether the put took effect.
		applied bool
		// arrived is whether the store saw the request.
		arrived bool
	}{
		{
			// A dial to a stopped store is refused before any stream
			// exists.
			name: "store stopped before the send",
			want: classification{notSent: true, code: codes.Unavailable},
			run: func(t *testing.T, c *Cluster, s transport.Sender) error {
				noErr(t, c.StopStore(1))
				return putVia(timeout(t), c, s, "a")
			},
		},
		{
			// The connection closes under the call: it may have been
			// applied, so it is not ErrNotSent.
			name: "store stopped with the request in flight",
			want: classification{code: codes.Unavailable},
			run: func(t *testing.T, c *Cluster, s transport.Sender) error {
				gate := NewGate()
				c.Inject(Fault{Cmd: transport.CmdRawPut, Steps: []Step{Always(Block(gate))}})
				stopped := make(chan error, 1)
				go func() {
					<-gate.Arrived()
					stopped <- c.StopStore(1)
				}()
				err := putVia(timeout(t), c, s, "a")
				noErr(t, <-stopped)
				return err
			},
			arrived: true,
		},
		{
			name: "response lost after apply",
			want: classification{code: codes.Unavailable},
			run: func(t *testing.T, c *Cluster, s transport.Sender) error {
				c.Inject(Fault{Cmd: transport.CmdRawPut, Steps: []Step{Times(1, LoseResponse(status.Error(codes.Unavailable, "connection reset")))}})
				return putVia(timeout(t), c, s, "a")
			},
			applied: true,
			arrived: true,
		},
		{
			// The caller's deadline ends while the store holds the
			// request.
			name: "delay past the caller's deadline",
			want: classification{code: codes.DeadlineExceeded},
			run: func(t *testing.T, c *Cluster, s transport.Sender) error {
				// Connect first, so that the short deadline is spent at
				// the store, not on dialing or opening the stream.
				warmUp(t, c, s)
				c.Inject(Fault{Cmd: transport.CmdRawPut, Steps: []Step{Always(Delay(time.Hour))}})
				ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
				defer cancel()
				return putVia(ctx, c, s, "a")
			},
			arrived: true,
		},
		{
			name: "delay within the caller's deadline",
			want: classification{code: codes.OK},
			run: func(t *testing.T, c *Cluster, s transport.Sender) error {
				c.Inject(Fault{Cmd: transport.CmdRawPut, Steps: []Step{Always(Delay(20 * time.Millisecond))}})
				return putVia(timeout(t), c, s, "a")
			},
			applied: true,
			arrived: true,
		},
		{
			name: "transport error injected (Unavailable)",
			want: classification{code: codes.Unavailable},
			run: func(t *testing.T, c *Cluster, s transport.Sender) error {
				c.Inject(Fault{Cmd: transport.CmdRawPut, Steps: []Step{Times(1, Fail(status.Error(codes.Unavailable, "injected")))}})
				return putVia(timeout(t), c, s, "a")
			},
			arrived: true,
		},
		{
			// A context error given to Fail is the status grpc-go maps
			// it to.
			name: "transport error injected (context.DeadlineExceeded)",
			want: classification{code: codes.DeadlineExceeded},
			run: func(t *testing.T, c *Cluster, s transport.Sender) error {
				c.Inject(Fault{Cmd: transport.CmdRawPut, Steps: []Step{Times(1, Fail(context.DeadlineExceeded))}})
				return putVia(timeout(t), c, s, "a")
			},
			arrived: true,
		},
		{
			name: "caller's ctx done before the send",
			want: classification{notSent: true, code: codes.Unknown},
			run: func(t *testing.T, c *Cluster, s transport.Sender) error {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return putVia(ctx, c, s, "a")
			},
		},
	}
	for _, tc := range cases {
		for _, mode := range allSendModes {
			t.Run(tc.name+"/"+string(mode), func(t *testing.T) {
				c := Start(t)
				var arrivals atomic.Int32
				c.OnRequest(func(_ uint64, cmd transport.Cmd, _ transport.Message) {
					if cmd == transport.CmdRawPut {
						arrivals.Add(1)
					}
				})
				err := tc.run(t, c, senderFor(t, c, mode))
				got := classify(err)
				want := tc.want
				eq(t, got, want, "classification of %v", err)
				noErr(t, c.StartStore(1)) // a no-op unless the case stopped it
				eq(t, hasValue(t, c, "a", "v"), tc.applied, "put applied")
				eq(t, arrivals.Load() > 0, tc.arrived, "request reached the store")
			})
		}
	}
}

// TestSenderStoppedStoreIsUnavailable: the in-process error for a stopped
// store says what happened in one line and carries the refused dial's
// status; a restarted store serves again.
func TestSenderStoppedStoreIsUnavailable(t *testing.T) {
	c := NewCluster()
	noErr(t, c.StopStore(1))
	noErr(t, c.StopStore(1)) // idempotent
	err := putVia(context.Background(), c, c.Sender(), "a")
	eq(t, classify(err), classification{notSent: true, code: codes.Unavailable}, "stopped store: %v", err)
	eq(t, err.Error(), "tikv: request not sent: store 1 is down: rpc error: code = Unavailable desc = mocktikv: connection refused", "message")
	noErr(t, c.StartStore(1))
	noErr(t, putVia(context.Background(), c, c.Sender(), "a"))
	eq(t, hasValue(t, c, "a", "v"), true, "served after restart")
}

// TestSenderErrorsUnwrap: the in-process errors keep what a caller may
// test with errors.Is (the fault's own error, the caller's ctx error)
// while carrying the wire's status.
func TestSenderErrorsUnwrap(t *testing.T) {
	c := NewCluster()
	mine := errors.New("mine")
	c.Inject(Fault{Cmd: transport.CmdRawPut, Key: []byte("f"), Steps: []Step{Always(Fail(mine))}})
	err := putVia(context.Background(), c, c.Sender(), "f")
	eq(t, errors.Is(err, mine), true, "unwraps to the fault's error: %v", err)
	eq(t, classify(err), classification{code: codes.Unknown}, "an error without a status")

	gate := NewGate()
	c.Inject(Fault{Cmd: transport.CmdRawPut, Key: []byte("h"), Steps: []Step{Always(Block(gate))}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- putVia(ctx, c, c.Sender(), "h") }()
	<-gate.Arrived()
	cancel()
	err = <-done
	eq(t, errors.Is(err, context.Canceled), true, "unwraps to ctx.Err(): %v", err)
	eq(t, classify(err), classification{code: codes.Canceled}, "held, then cancelled")
}
