package middleware

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	rmpb "github.com/pingcap/kvproto/pkg/resource_manager"
	"github.com/tikv/pd/client/resource_group/controller"

	"github.com/tikvgo/tikv/transport"
)

// fakeRC scripts the resource-group controller (the boundary below the
// middleware): it records what it was asked and answers as told.
type fakeRC struct {
	mu         sync.Mutex
	waits      []string // group of each OnRequestWait
	reqs       []controller.RequestInfo
	resps      []controller.ResponseInfo
	background string // a request source IsBackgroundRequest accepts
	waitErr    error
	priority   uint32
}

func (f *fakeRC) OnRequestWait(ctx context.Context, group string, info controller.RequestInfo) (*rmpb.Consumption, *rmpb.Consumption, time.Duration, uint32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.waits = append(f.waits, group)
	f.reqs = append(f.reqs, info)
	if f.waitErr != nil {
		return nil, nil, 3 * time.Millisecond, 0, f.waitErr
	}
	return &rmpb.Consumption{WRU: 2}, &rmpb.Consumption{RRU: 7}, 5 * time.Millisecond, f.priority, nil
}

func (f *fakeRC) OnResponse(group string, req controller.RequestInfo, resp controller.ResponseInfo) (*rmpb.Consumption, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resps = append(f.resps, resp)
	return &rmpb.Consumption{RRU: 1.5}, nil
}

func (f *fakeRC) OnResponseWait(ctx context.Context, group string, req controller.RequestInfo, resp controller.ResponseInfo) (*rmpb.Consumption, time.Duration, error) {
	panic("ResourceControl must use OnResponse")
}

func (f *fakeRC) IsBackgroundRequest(_ context.Context, _, source string) bool {
	return f.background != "" && source == f.background
}

func (f *fakeRC) GetRUVersion() controller.RUVersion { return controller.DefaultRUVersion }

// captured records the requests that reached the terminal sender.
type captured struct {
	reqs []*transport.Request
	resp transport.Message
	err  error
}

func (c *captured) Send(_ context.Context, req *transport.Request) (*transport.Response, error) {
	c.reqs = append(c.reqs, req)
	if c.err != nil {
		return nil, c.err
	}
	return &transport.Response{Msg: c.resp}, nil
}

func rawPut(rc *kvrpcpb.ResourceControlContext, source string) *transport.Request {
	return &transport.Request{
		Cmd:    transport.CmdRawPut,
		Msg:    &kvrpcpb.RawPutRequest{Context: &kvrpcpb.Context{ResourceControlContext: rc, RequestSource: source}, Key: []byte("key"), Value: []byte("value")},
		Target: transport.Target{StoreID: 4},
	}
}

func sentRCC(t *testing.T, c *captured) *kvrpcpb.ResourceControlContext {
	t.Helper()
	if len(c.reqs) != 1 {
		t.Fatalf("%d requests sent, want 1", len(c.reqs))
	}
	r := c.reqs[0]
	return r.Cmd.Context(r.Msg).GetResourceControlContext()
}

func TestResourceControlPicksTheGroup(t *testing.T) {
	for _, tc := range []struct {
		name     string
		msgGroup string // the request's own (a transaction's group)
		ctxGroup string
		def      string
		want     string
	}{
		{name: "request wins", msgGroup: "txn", ctxGroup: "ctx", def: "client", want: "txn"},
		{name: "ctx over client", ctxGroup: "ctx", def: "client", want: "ctx"},
		{name: "client default", def: "client", want: "client"},
		{name: "none", want: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := &fakeRC{}
			term := &captured{resp: &kvrpcpb.RawPutResponse{}}
			var rcc *kvrpcpb.ResourceControlContext
			if tc.msgGroup != "" {
				rcc = &kvrpcpb.ResourceControlContext{ResourceGroupName: tc.msgGroup}
			}
			req := rawPut(rcc, "")
			ctx := context.Background()
			if tc.ctxGroup != "" {
				ctx = WithResourceGroup(ctx, tc.ctxGroup)
			}
			if _, err := ResourceControl(rc, tc.def)(term).Send(ctx, req); err != nil {
				t.Fatal(err)
			}
			got := sentRCC(t, term)
			if got.GetResourceGroupName() != tc.want {
				t.Errorf("sent group %q, want %q", got.GetResourceGroupName(), tc.want)
			}
			if tc.want == "" {
				if len(rc.waits) != 0 || term.reqs[0] != req {
					t.Errorf("a request without a group went to the controller (%v) or was copied", rc.waits)
				}
				return
			}
			if len(rc.waits) != 1 || rc.waits[0] != tc.want {
				t.Errorf("controller asked for %v, want [%s]", rc.waits, tc.want)
			}
			// The attempt's Context is its own (transport's middleware
			// contract), so its resource-control part is replaced in place;
			// the part it replaces may be shared and is never written.
			if got := req.Msg.(*kvrpcpb.RawPutRequest).Context.ResourceControlContext; got == rcc || got.GetResourceGroupName() != tc.want {
				t.Errorf("the attempt's Context carries %v, want a new part for group %q", got, tc.want)
			}
			if rcc != nil && (rcc.ResourceGroupName != tc.msgGroup || rcc.Penalty != nil || rcc.OverridePriority != 0) {
				t.Errorf("the replaced resource-control part was written: %v", rcc)
			}
		})
	}
}

// TestResourceControlFillsTheContext also covers client-go's
// TestSendRequestSettlesOnSuccess: an answered attempt is settled once.
func TestResourceControlFillsTheContext(t *testing.T) {
	rc := &fakeRC{priority: 8}
	term := &captured{resp: &kvrpcpb.RawPutResponse{}}
	details := &RUDetails{}
	ctx := WithRUDetails(WithResourceGroup(context.Background(), "g"), details)
	if _, err := ResourceControl(rc, "")(term).Send(ctx, rawPut(nil, "")); err != nil {
		t.Fatal(err)
	}
	got := sentRCC(t, term)
	if got.GetPenalty().GetRRU() != 7 || got.GetOverridePriority() != 8 {
		t.Errorf("sent %v, want the controller's penalty (RRU 7) and the group's priority 8", got)
	}
	if len(rc.waits) != 1 || len(rc.resps) != 1 {
		t.Errorf("%d waits and %d settlements, want one of each", len(rc.waits), len(rc.resps))
	}
	if details.WRU() != 2 || details.RRU() != 1.5 || details.WaitDuration() != 5*time.Millisecond {
		t.Errorf("RU details = %v WRU, %v RRU, %v wait; want 2, 1.5, 5ms", details.WRU(), details.RRU(), details.WaitDuration())
	}
	info := rc.reqs[0]
	if !info.IsWrite() || info.WriteBytes() != uint64(len("key")+len("value")) || info.StoreID() != 4 || info.ReplicaNumber() != 1 {
		t.Errorf("request info: write %v, %d bytes, store %d, %d replicas; want a write of 8 bytes to store 4 on 1 replica",
			info.IsWrite(), info.WriteBytes(), info.StoreID(), info.ReplicaNumber())
	}

	// A priority the request set is kept (client-go overrides only 0).
	term = &captured{resp: &kvrpcpb.RawPutResponse{}}
	if _, err := ResourceControl(rc, "g")(term).Send(context.Background(), rawPut(&kvrpcpb.ResourceControlContext{OverridePriority: 16}, "")); err != nil {
		t.Fatal(err)
	}
	if got := sentRCC(t, term); got.GetOverridePriority() != 16 || got.GetResourceGroupName() != "g" {
		t.Errorf("sent %v, want the request's priority 16 in group g", got)
	}
}

// TestResourceControlBypasses ports client-go's
// TestBypassRUV2FollowsRequestInfoBypass: "internal_others" sources bypass
// the controller; and background job types the group declares do too.
func TestResourceControlBypasses(t *testing.T) {
	for _, tc := range []struct{ name, source string }{
		{"internal others", "internal_others_alter_user"},
		{"background job", "external_br"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := &fakeRC{background: "external_br"}
			term := &captured{resp: &kvrpcpb.RawPutResponse{}}
			if _, err := ResourceControl(rc, "g")(term).Send(context.Background(), rawPut(nil, tc.source)); err != nil {
				t.Fatal(err)
			}
			if len(rc.waits) != 0 || len(rc.resps) != 0 {
				t.Errorf("the controller was asked (%d waits, %d responses) for a bypassed request", len(rc.waits), len(rc.resps))
			}
			if got := sentRCC(t, term); got.GetResourceGroupName() != "g" {
				t.Errorf("a bypassed request went without its group: %v", got)
			}
		})
	}
}

func TestResourceControlRefusedWait(t *testing.T) {
	throttled := errors.New("exceeded resource group quota limitation")
	for _, tc := range []struct {
		name     string
		cause    error
		terminal bool
	}{
		{"throttled", throttled, true},
		{"ctx ended", context.DeadlineExceeded, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := &fakeRC{waitErr: tc.cause}
			term := &captured{}
			details := &RUDetails{}
			ctx := WithRUDetails(context.Background(), details)
			_, err := ResourceControl(rc, "g")(term).Send(ctx, rawPut(nil, ""))
			var rge *ResourceGroupError
			if !errors.As(err, &rge) || rge.Group != "g" || !errors.Is(err, transport.ErrNotSent) || !errors.Is(err, tc.cause) {
				t.Fatalf("err = %v, want a ResourceGroupError of group g wrapping ErrNotSent and %v", err, tc.cause)
			}
			if rge.Terminal() != tc.terminal {
				t.Errorf("Terminal() = %v, want %v", rge.Terminal(), tc.terminal)
			}
			if len(term.reqs) != 0 {
				t.Error("a refused request was sent")
			}
			if details.WaitDuration() != 3*time.Millisecond {
				t.Errorf("the refused wait of 3ms was recorded as %v", details.WaitDuration())
			}
		})
	}
}

// TestResourceControlChargesOnlyAnsweredAttempts ports client-go's
// TestSendRequestDoesNotSettleAndKeepsRUDetailsOnTransportFailure
// (internal/client/client_interceptor_test.go): an attempt without a
// response is not settled, and keeps its request-side RU in the details.
func TestResourceControlChargesOnlyAnsweredAttempts(t *testing.T) {
	rc := &fakeRC{}
	term := &captured{err: errors.New("connection reset")}
	details := &RUDetails{}
	ctx := WithRUDetails(context.Background(), details)
	if _, err := ResourceControl(rc, "g")(term).Send(ctx, rawPut(nil, "")); err == nil {
		t.Fatal("the transport's error was lost")
	}
	if len(rc.waits) != 1 || len(rc.resps) != 0 {
		t.Errorf("%d waits and %d responses charged, want 1 and 0 (no response, no read cost)", len(rc.waits), len(rc.resps))
	}
	if details.WRU() != 2 || details.RRU() != 0 {
		t.Errorf("RU details after a failed attempt: %v WRU, %v RRU; want the request side's 2 and 0", details.WRU(), details.RRU())
	}
}

// TestResourceControlRequestAndResponseInfo checks the RU inputs against
// client-go's MakeRequestInfo and MakeResponseInfo.
func TestResourceControlRequestAndResponseInfo(t *testing.T) {
	prewrite := &kvrpcpb.PrewriteRequest{
		Mutations:   []*kvrpcpb.Mutation{{Key: []byte("ab"), Value: []byte("cde")}, {Key: []byte("f")}},
		PrimaryLock: []byte("ab"), Secondaries: [][]byte{[]byte("f"), []byte("gh")},
	}
	for _, tc := range []struct {
		cmd   transport.Cmd
		msg   transport.Message
		write bool
		bytes uint64
	}{
		{transport.CmdPrewrite, prewrite, true, 2 + 3 + 1 + 2 + 1 + 2},
		{transport.CmdCommit, &kvrpcpb.CommitRequest{Keys: [][]byte{[]byte("ab"), []byte("c")}}, true, 3},
		{transport.CmdPessimisticLock, &kvrpcpb.PessimisticLockRequest{Mutations: []*kvrpcpb.Mutation{{Key: []byte("k")}}}, true, 0},
		{transport.CmdResolveLock, &kvrpcpb.ResolveLockRequest{}, true, 0},
		{transport.CmdGet, &kvrpcpb.GetRequest{Key: []byte("k")}, false, 0},
		{transport.CmdScanLock, &kvrpcpb.ScanLockRequest{}, false, 0},
		{transport.CmdRawBatchPut, &kvrpcpb.RawBatchPutRequest{Pairs: []*kvrpcpb.KvPair{{Key: []byte("a"), Value: []byte("bc")}}}, true, 3},
		{transport.CmdRawDeleteRange, &kvrpcpb.RawDeleteRangeRequest{}, true, 0},
	} {
		write, n := writeCost(tc.cmd, tc.msg)
		if write != tc.write || n != tc.bytes {
			t.Errorf("%s: write %v, %d bytes; want %v, %d", tc.cmd, write, n, tc.write, tc.bytes)
		}
	}

	get := &kvrpcpb.GetResponse{ExecDetailsV2: &kvrpcpb.ExecDetailsV2{
		ScanDetailV2: &kvrpcpb.ScanDetailV2{ProcessedVersionsSize: 300},
		TimeDetailV2: &kvrpcpb.TimeDetailV2{ProcessWallTimeNs: 2_000_000},
	}}
	if r := newRCResponse(get); r.ReadBytes() != 300 || r.KVCPU() != 2*time.Millisecond || !r.Succeed() {
		t.Errorf("Get response: %d bytes, %v CPU; want 300 and 2ms", r.ReadBytes(), r.KVCPU())
	}
	scan := &kvrpcpb.ScanResponse{Pairs: []*kvrpcpb.KvPair{{Key: []byte("k"), Value: []byte("v")}}}
	if r := newRCResponse(scan); r.ReadBytes() != uint64(scan.Size()) {
		t.Errorf("Scan response: %d bytes, want its size %d", r.ReadBytes(), scan.Size())
	}
	if r := newRCResponse(&kvrpcpb.PrewriteResponse{}); r.ReadBytes() != 0 || r.KVCPU() != 0 {
		t.Errorf("Prewrite response read %d bytes in %v, want nothing", r.ReadBytes(), r.KVCPU())
	}
}
