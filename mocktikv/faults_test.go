package mocktikv

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tikvgo/tikv/transport"
)

// TestFaultRegionError: a fault answers with any errorpb kind, without
// executing the command, identically over every transport.
func TestFaultRegionError(t *testing.T) {
	kinds := []*errorpb.Error{
		{Message: "busy", ServerIsBusy: &errorpb.ServerIsBusy{Reason: "scheduler is busy", EstimatedWaitMs: 30}},
		{Message: "not leader", NotLeader: &errorpb.NotLeader{RegionId: 2}},
		{Message: "stale command", StaleCommand: &errorpb.StaleCommand{}},
		{Message: "disk full", DiskFull: &errorpb.DiskFull{StoreId: []uint64{1}, Reason: "almost full"}},
		{Message: "max ts not synced", MaxTimestampNotSynced: &errorpb.MaxTimestampNotSynced{}},
		{Message: "read index not ready", ReadIndexNotReady: &errorpb.ReadIndexNotReady{RegionId: 2, Reason: "applying snapshot"}},
		{Message: "undetermined", UndeterminedResult: &errorpb.UndeterminedResult{Message: "lost"}},
	}
	for _, v := range allVias {
		for _, kind := range kinds {
			t.Run(string(v)+"/"+kind.Message, func(t *testing.T) {
				c := Start(t)
				c.Inject(Fault{Cmd: transport.CmdRawPut, Steps: []Step{Always(RegionError(kind))}})
				resp, err := rawPutVia(timeout(t), t, c, v, leaderCtx(c, "a"), "a", "v")
				noErr(t, err)
				eqProto(t, resp.RegionError, kind, "region error")
				eq(t, hasValue(t, c, "a", "v"), false, "command executed")
			})
		}
	}
}

// TestFaultKeyError: a key error lands in the command's error field or
// errors list; a command without one cannot carry it.
func TestFaultKeyError(t *testing.T) {
	conflict := &kvrpcpb.KeyError{Conflict: &kvrpcpb.WriteConflict{StartTs: 5, ConflictTs: 7, Key: []byte("a")}}
	for _, v := range allVias {
		t.Run(string(v), func(t *testing.T) {
			c := Start(t)
			c.Inject(Fault{Cmd: transport.CmdCommit, Steps: []Step{Always(KeyError(conflict))}})
			c.Inject(Fault{Cmd: transport.CmdPrewrite, Steps: []Step{Always(KeyError(conflict))}})
			rctx := leaderCtx(c, "a")
			commit, err := callVia(timeout(t), t, c, v, 1, transport.CmdCommit, &kvrpcpb.CommitRequest{Context: rctx, Keys: [][]byte{[]byte("a")}})
			skipWithoutMethod(t, v, transport.CmdCommit, err)
			noErr(t, err)
			eqProto(t, commit.(*kvrpcpb.CommitResponse).Error, conflict, "commit error")
			prewrite := must(callVia(timeout(t), t, c, v, 1, transport.CmdPrewrite, &kvrpcpb.PrewriteRequest{Context: rctx}))(t)
			errs := prewrite.(*kvrpcpb.PrewriteResponse).Errors
			eq(t, len(errs), 1, "prewrite errors")
			eqProto(t, errs[0], conflict, "prewrite error")
		})
	}
	defer func() {
		if recover() == nil {
			t.Fatal("a key error for RawPut: want a panic")
		}
	}()
	NewCluster().Inject(Fault{Cmd: transport.CmdRawPut, Steps: []Step{Always(KeyError(conflict))}})
}

// TestFaultRespond: a fault may answer with any response of the command's
// type; a wrong type is an internal error.
func TestFaultRespond(t *testing.T) {
	for _, v := range allVias {
		t.Run(string(v), func(t *testing.T) {
			c := Start(t)
			c.Inject(Fault{Cmd: transport.CmdRawGet, Key: []byte("a"), Steps: []Step{Times(1, Respond(func(req transport.Message) transport.Message {
				return &kvrpcpb.RawGetResponse{Value: append([]byte("echo "), req.(*kvrpcpb.RawGetRequest).Key...)}
			}))}})
			c.Inject(Fault{Cmd: transport.CmdRawGet, Key: []byte("b"), Steps: []Step{Always(Respond(func(transport.Message) transport.Message {
				return &kvrpcpb.RawPutResponse{}
			}))}})
			eq(t, string(rawGetVia(t, c, v, 1, leaderCtx(c, "a"), "a").Value), "echo a", "scripted value")
			eq(t, rawGetVia(t, c, v, 1, leaderCtx(c, "a"), "a").NotFound, true, "second get, served")
			_, err := callVia(timeout(t), t, c, v, 1, transport.CmdRawGet, &kvrpcpb.RawGetRequest{Context: leaderCtx(c, "b"), Key: []byte("b")})
			eq(t, status.Code(err), codes.Internal, "wrong response type: %v", err)
		})
	}
}

// TestFaultTransportError: Fail fails the RPC with the given status and
// does not execute the command.
func TestFaultTransportError(t *testing.T) {
	for _, code := range []codes.Code{codes.Unavailable, codes.DeadlineExceeded, codes.Canceled} {
		for _, v := range allVias {
			t.Run(code.String()+"/"+string(v), func(t *testing.T) {
				c := Start(t)
				c.Inject(Fault{Cmd: transport.CmdRawPut, Steps: []Step{Times(1, Fail(status.Error(code, "injected")))}})
				_, err := rawPutVia(timeout(t), t, c, v, leaderCtx(c, "a"), "a", "v")
				eq(t, status.Code(err), code, "code of %v", err)
				eq(t, hasValue(t, c, "a", "v"), false, "command executed")
				// The fault is used up: the retry goes through.
				resp, err := rawPutVia(timeout(t), t, c, v, leaderCtx(c, "a"), "a", "v")
				noErr(t, err)
				eq(t, resp.RegionError == nil && resp.Error == "", true, "retry: %v", resp)
			})
		}
	}
	// In process, the error is returned as given.
	c := NewCluster()
	c.Inject(Fault{Steps: []Step{Always(Fail(context.Canceled))}})
	_, err := rawPutVia(timeout(t), t, c, viaSender, leaderCtx(c, "a"), "a", "v")
	eq(t, errors.Is(err, context.Canceled), true, "in-process error %v", err)
}

// TestFaultLoseResponse: the command is applied, then the client gets an
// error instead of the response.
func TestFaultLoseResponse(t *testing.T) {
	for _, v := range allVias {
		t.Run(string(v), func(t *testing.T) {
			c := Start(t)
			var outcome error
			c.OnResponse(func(_ uint64, cmd transport.Cmd, _, _ transport.Message, err error) {
				if cmd == transport.CmdRawPut {
					outcome = err
				}
			})
			c.Inject(Fault{Cmd: transport.CmdRawPut, Steps: []Step{Times(1, LoseResponse(status.Error(codes.Unavailable, "connection reset")))}})
			_, err := rawPutVia(timeout(t), t, c, v, leaderCtx(c, "a"), "a", "v")
			eq(t, status.Code(err), codes.Unavailable, "code of %v", err)
			eq(t, hasValue(t, c, "a", "v"), true, "command applied")
			eq(t, status.Code(outcome), codes.Unavailable, "observed outcome %v", outcome)
		})
	}
}

// TestFaultDelay holds a request for the scripted time (virtual time, in
// process) and gives up when the request's context ends first.
func TestFaultDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := NewCluster()
		c.Inject(Fault{Cmd: transport.CmdRawPut, Steps: []Step{Always(Delay(3 * time.Second))}})
		start := time.Now()
		_, err := rawPutVia(context.Background(), t, c, viaSender, leaderCtx(c, "a"), "a", "v")
		noErr(t, err)
		eq(t, time.Since(start), 3*time.Second, "delay")

		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err = rawPutVia(ctx, t, c, viaSender, leaderCtx(c, "b"), "b", "v")
		eq(t, errors.Is(err, context.DeadlineExceeded), true, "cut short: %v", err)
		eq(t, hasValue(t, c, "b", "v"), false, "cut-short request executed")
	})
	// Over the wire, in real time.
	for _, v := range []via{viaUnary, viaBatch} {
		t.Run(string(v), func(t *testing.T) {
			c := Start(t)
			c.Inject(Fault{Cmd: transport.CmdRawPut, Steps: []Step{Always(Delay(50 * time.Millisecond))}})
			start := time.Now()
			_, err := rawPutVia(timeout(t), t, c, v, leaderCtx(c, "a"), "a", "v")
			noErr(t, err)
			if d := time.Since(start); d < 50*time.Millisecond {
				t.Fatalf("answered after %v, want >= 50ms", d)
			}
		})
	}
}

// TestFaultBlock holds requests at a gate until the test opens it, without
// holding up other requests, and lets a request go when its context ends.
func TestFaultBlock(t *testing.T) {
	for _, v := range allVias {
		t.Run(string(v), func(t *testing.T) {
			c := Start(t)
			gate := NewGate()
			c.Inject(Fault{Cmd: transport.CmdRawPut, Key: []byte("a"), Steps: []Step{Always(Block(gate))}})
			done := make(chan error, 1)
			go func() {
				_, err := rawPutVia(timeout(t), t, c, v, leaderCtx(c, "a"), "a", "v")
				done <- err
			}()
			<-gate.Arrived()
			eq(t, gate.Waiting(), 1, "waiting")
			// Other requests go on while one is held, and the held one
			// has not run.
			_, err := rawPutVia(timeout(t), t, c, v, leaderCtx(c, "b"), "b", "v")
			noErr(t, err)
			eq(t, hasValue(t, c, "a", "v"), false, "held request executed")
			gate.Open()
			noErr(t, <-done)
			eq(t, hasValue(t, c, "a", "v"), true, "released request executed")
			eq(t, gate.Waiting(), 0, "waiting after open")

			// A held request gives up when its context ends.
			c.Inject(Fault{Cmd: transport.CmdRawPut, Key: []byte("c"), Steps: []Step{Always(Block(NewGate()))}})
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			_, err = rawPutVia(ctx, t, c, v, leaderCtx(c, "c"), "c", "v")
			if code := status.Code(err); code != codes.DeadlineExceeded && !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("held past its deadline: got %v", err)
			}
			eq(t, hasValue(t, c, "c", "v"), false, "abandoned request executed")
		})
	}
}

// TestFaultSequence: count-limited steps run in order ("1*off->2*busy->
// return(err)") and a used-up fault stops matching; Remove unregisters.
func TestFaultSequence(t *testing.T) {
	for _, v := range allVias {
		t.Run(string(v), func(t *testing.T) {
			c := Start(t)
			busy := &errorpb.Error{Message: "busy", ServerIsBusy: &errorpb.ServerIsBusy{Reason: "x"}}
			h := c.Inject(Fault{Cmd: transport.CmdRawGet, Steps: []Step{
				Times(1, Pass()),
				Times(2, RegionError(busy)),
				Times(1, Fail(status.Error(codes.Unavailable, "down"))),
			}})
			outcome := func() string {
				resp, err := callVia(timeout(t), t, c, v, 1, transport.CmdRawGet, &kvrpcpb.RawGetRequest{Context: leaderCtx(c, "a"), Key: []byte("a")})
				switch {
				case err != nil:
					return status.Code(err).String()
				case resp.(*kvrpcpb.RawGetResponse).RegionError != nil:
					return "busy"
				}
				return "pass"
			}
			var got []string
			for range 6 {
				got = append(got, outcome())
			}
			eq(t, len(got), 6, "outcomes")
			for i, want := range []string{"pass", "busy", "busy", "Unavailable", "pass", "pass"} {
				eq(t, got[i], want, "outcome %d (all %v)", i, got)
			}
			eq(t, h.Hits(), 4, "hits")

			h2 := c.Inject(Fault{Cmd: transport.CmdRawGet, Steps: []Step{Always(RegionError(busy))}})
			eq(t, outcome(), "busy", "before Remove")
			h2.Remove()
			h2.Remove()
			eq(t, outcome(), "pass", "after Remove")
			eq(t, h2.Hits(), 1, "hits of the removed fault")
		})
	}
}

// TestFaultSelectors: a fault matches only requests of its command, store,
// region and key, and those its Match accepts; holds (Delay, Block, Pass)
// let later faults see the request, terminal actions do not.
func TestFaultSelectors(t *testing.T) {
	c := NewCluster(WithStores(2), WithSplitKeys([]byte("m")))
	left, _ := c.RegionByKey([]byte("a"))
	busy := &errorpb.Error{Message: "busy", ServerIsBusy: &errorpb.ServerIsBusy{}}
	get := func(key string, store uint64, version uint64) (transport.Cmd, transport.Message) {
		rctx := peerCtx(c, key, store)
		rctx.ReplicaRead = true
		return transport.CmdGet, &kvrpcpb.GetRequest{Context: rctx, Key: []byte(key), Version: version}
	}
	cases := []struct {
		name  string
		fault Fault
		cmd   transport.Cmd
		req   transport.Message
		store uint64
		match bool
	}{
		{"any", Fault{}, transport.CmdRawGet, &kvrpcpb.RawGetRequest{Key: []byte("a")}, 1, true},
		{"other cmd", Fault{Cmd: transport.CmdRawPut}, transport.CmdRawGet, &kvrpcpb.RawGetRequest{Key: []byte("a")}, 1, false},
		{"store", Fault{Store: 2}, transport.CmdRawGet, &kvrpcpb.RawGetRequest{Key: []byte("a")}, 2, true},
		{"other store", Fault{Store: 2}, transport.CmdRawGet, &kvrpcpb.RawGetRequest{Key: []byte("a")}, 1, false},
		{"region", Fault{Region: left.Id}, transport.CmdRawGet, &kvrpcpb.RawGetRequest{Context: peerCtx(c, "a", 1)}, 1, true},
		{"other region", Fault{Region: left.Id}, transport.CmdRawGet, &kvrpcpb.RawGetRequest{Context: peerCtx(c, "x", 1)}, 1, false},
		{"store-level cmd vs region", Fault{Region: left.Id}, transport.CmdStoreSafeTS, &kvrpcpb.StoreSafeTSRequest{}, 1, false},
		{"key", Fault{Key: []byte("k")}, transport.CmdRawBatchPut, &kvrpcpb.RawBatchPutRequest{Pairs: []*kvrpcpb.KvPair{{Key: []byte("j")}, {Key: []byte("k")}}}, 1, true},
		{"key in mutations", Fault{Key: []byte("k")}, transport.CmdPrewrite, &kvrpcpb.PrewriteRequest{Mutations: []*kvrpcpb.Mutation{{Key: []byte("k")}}}, 1, true},
		{"key in keys", Fault{Key: []byte("k")}, transport.CmdCommit, &kvrpcpb.CommitRequest{Keys: [][]byte{[]byte("k")}}, 1, true},
		{"primary of a heartbeat", Fault{Key: []byte("k")}, transport.CmdTxnHeartBeat, &kvrpcpb.TxnHeartBeatRequest{PrimaryLock: []byte("k")}, 1, true},
		{"other key", Fault{Key: []byte("k")}, transport.CmdRawGet, &kvrpcpb.RawGetRequest{Key: []byte("kk")}, 1, false},
		{"match by start ts", Fault{Match: func(_ uint64, _ transport.Cmd, req transport.Message) bool {
			r, ok := req.(*kvrpcpb.GetRequest)
			return ok && r.Version == 42
		}}, transport.CmdInvalid, nil, 1, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.cmd == transport.CmdInvalid {
				tc.cmd, tc.req = get("a", 1, 42)
			}
			tc.fault.Steps = []Step{Always(RegionError(busy))}
			h := c.Inject(tc.fault)
			defer h.Remove()
			plan := c.faults.match(tc.store, tc.cmd, tc.req)
			eq(t, plan.terminal != nil, tc.match, "matched")
		})
	}

	t.Run("holds then terminal", func(t *testing.T) {
		gate := NewGate()
		gate.Open()
		first := c.Inject(Fault{Steps: []Step{Always(Delay(time.Millisecond))}})
		second := c.Inject(Fault{Steps: []Step{Always(Block(gate))}})
		third := c.Inject(Fault{Steps: []Step{Always(RegionError(busy))}})
		fourth := c.Inject(Fault{Steps: []Step{Always(RegionError(busy))}})
		for _, h := range []*FaultHandle{first, second, third, fourth} {
			defer h.Remove()
		}
		cmd, req := get("a", 1, 1)
		resp := must(callVia(timeout(t), t, c, viaSender, 1, cmd, req))(t)
		eqProto(t, resp.(*kvrpcpb.GetResponse).RegionError, busy, "answer")
		eq(t, [4]int{first.Hits(), second.Hits(), third.Hits(), fourth.Hits()}, [4]int{1, 1, 1, 0}, "hits")
	})
}

// TestObserverSeesRetries: the request observer sees every attempt,
// including those a fault answers and the client's retries, and the
// response observer sees each outcome.
func TestObserverSeesRetries(t *testing.T) {
	for _, v := range allVias {
		t.Run(string(v), func(t *testing.T) {
			c := Start(t)
			type seen struct {
				retry bool
				busy  bool
			}
			var (
				mu       sync.Mutex
				requests []bool
				answers  []seen
			)
			c.OnRequest(func(_ uint64, cmd transport.Cmd, req transport.Message) {
				mu.Lock()
				defer mu.Unlock()
				requests = append(requests, cmd.Context(req).GetIsRetryRequest())
			})
			c.OnResponse(func(_ uint64, cmd transport.Cmd, req, resp transport.Message, err error) {
				noErr(t, err)
				mu.Lock()
				defer mu.Unlock()
				answers = append(answers, seen{cmd.Context(req).GetIsRetryRequest(), resp.(*kvrpcpb.RawPutResponse).RegionError != nil})
			})
			busy := &errorpb.Error{Message: "busy", ServerIsBusy: &errorpb.ServerIsBusy{}}
			c.Inject(Fault{Cmd: transport.CmdRawPut, Steps: []Step{Times(1, RegionError(busy))}})

			rctx := leaderCtx(c, "a")
			first := must(rawPutVia(timeout(t), t, c, v, rctx, "a", "v"))(t)
			eq(t, first.RegionError != nil, true, "first attempt busy")
			retry := *rctx
			retry.IsRetryRequest = true
			second := must(rawPutVia(timeout(t), t, c, v, &retry, "a", "v"))(t)
			eq(t, second.RegionError == nil, true, "retry served")

			mu.Lock()
			defer mu.Unlock()
			eq(t, len(requests), 2, "observed requests")
			eq(t, requests[0], false, "first is_retry_request")
			eq(t, requests[1], true, "second is_retry_request")
			eq(t, len(answers), 2, "observed responses")
			eq(t, answers[0], seen{false, true}, "first outcome")
			eq(t, answers[1], seen{true, false}, "second outcome")
		})
	}
}

// TestFaultsParallelSafe: concurrent requests consume a count-limited step
// exactly as many times as it allows.
func TestFaultsParallelSafe(t *testing.T) {
	c := NewCluster()
	busy := &errorpb.Error{Message: "busy", ServerIsBusy: &errorpb.ServerIsBusy{}}
	h := c.Inject(Fault{Cmd: transport.CmdRawGet, Steps: []Step{Times(10, RegionError(busy))}})
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		busyN int
	)
	for range 50 {
		wg.Go(func() {
			resp := rawGetVia(t, c, viaSender, 1, leaderCtx(c, "a"), "a")
			if resp.RegionError != nil {
				mu.Lock()
				busyN++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	eq(t, busyN, 10, "busy answers")
	eq(t, h.Hits(), 10, "hits")
	eq(t, bytes.Equal(requestKeys(&kvrpcpb.RawGetRequest{Key: []byte("q")})[0], []byte("q")), true, "key of a RawGet")
}
