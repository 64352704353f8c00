package mocktikv

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/gogo/protobuf/proto"
	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tikvgo/tikv/transport"
)

// Fault scripts how the cluster answers the requests it matches. It replaces
// client-go's failpoints: it is registered on one Cluster (no globals, so
// tests stay parallel) and applies identically to unary gRPC calls,
// BatchCommands sub-requests and the in-process Sender.
//
// A request matches when every set selector matches: Cmd (CmdInvalid, the
// zero value, matches every command), Store (0: any store), Region (0: any;
// compared with the request's Context.RegionId), Key (nil: any) and Match
// (nil: any).
//
// Steps is a count-limited sequence, like the failpoint term
// "1*return(x)->return(y)": each matching request consumes one hit of the
// current step and gets its Action. A step with Times <= 0 never runs out, so
// steps after it are never reached. Once every step is used up, the fault
// matches nothing more.
type Fault struct {
	// Cmd restricts the fault to one command.
	Cmd transport.Cmd
	// Store restricts the fault to requests that reached this store.
	Store uint64
	// Region restricts the fault to requests addressed to this region.
	Region uint64
	// Key restricts the fault to requests that name this key (as sent, not
	// encoded) in one of the fields Key, Keys, StartKey, PrimaryKey,
	// Mutations[].Key or Pairs[].Key, or TxnHeartBeat's PrimaryLock.
	Key []byte
	// Match, when set, must also accept the request. It runs while the
	// fault table is locked: it must be quick, must not call the Cluster
	// and must not modify req.
	Match func(storeID uint64, cmd transport.Cmd, req transport.Message) bool
	// Steps is the sequence of actions; see Fault.
	Steps []Step
}

// Step is one element of a Fault's sequence: Action for the next Times
// matching requests (Times <= 0: for every remaining one).
type Step struct {
	Times  int
	Action Action
}

// Times returns a step that applies a to the next n matching requests.
func Times(n int, a Action) Step { return Step{Times: max(n, 1), Action: a} }

// Always returns a step that applies a to every remaining matching request.
func Always(a Action) Step { return Step{Action: a} }

// actionKind says what an Action does.
type actionKind int

const (
	actPass actionKind = iota
	actDelay
	actBlock
	actRegionError
	actKeyError
	actRespond
	actFail
	actLoseResponse
)

// terminal reports whether the action decides the request's outcome, so
// that later faults are not consulted.
func (k actionKind) terminal() bool { return k >= actRegionError }

// Action is what a Fault does to a request it matches. Build one with Pass,
// Delay, Block, RegionError, KeyError, Respond, Fail or LoseResponse.
//
// Pass, Delay and Block are not terminal: after them the request is matched
// against the faults registered later and then executed normally. The
// others decide the outcome, and later faults do not see the request.
type Action struct {
	kind      actionKind
	delay     time.Duration
	gate      *Gate
	regionErr *errorpb.Error
	keyErr    *kvrpcpb.KeyError
	respond   func(transport.Message) transport.Message
	err       error
}

// Pass lets the request through unchanged (the failpoint term "off"); with
// Times it skips a number of requests before a later step applies.
func Pass() Action { return Action{kind: actPass} }

// Delay holds the request for d before it goes on. If the RPC's context ends
// first, the request fails with the context's error and is not executed.
func Delay(d time.Duration) Action { return Action{kind: actDelay, delay: d} }

// Block holds the request until g is opened (the failpoint term "pause").
// If the RPC's context ends first, the request fails with the context's
// error and is not executed.
func Block(g *Gate) Action { return Action{kind: actBlock, gate: g} }

// RegionError answers with the command's response carrying only a copy of
// e as its region_error, as TiKV answers every region-level failure. The
// command is not executed.
func RegionError(e *errorpb.Error) Action { return Action{kind: actRegionError, regionErr: e} }

// KeyError answers with the command's response carrying only a copy of e,
// in the response's error field (or as the single element of its errors
// list, for Prewrite, PessimisticLock, PessimisticRollback and Flush). The
// command is not executed. Commands whose responses have no KeyError (the
// raw commands report errors as strings) fail with codes.Internal; use
// Respond for them.
func KeyError(e *kvrpcpb.KeyError) Action { return Action{kind: actKeyError, keyErr: e} }

// Respond answers with fn(req), which must be a response of the command's
// type (otherwise the request fails with codes.Internal). The command is
// not executed. fn may run on many goroutines at once.
func Respond(fn func(req transport.Message) transport.Message) Action {
	return Action{kind: actRespond, respond: fn}
}

// Fail fails the request with err without executing it, as a transport
// failure does. Over gRPC the call fails with err's status (use
// status.Error(codes.Unavailable, ...), codes.DeadlineExceeded, ... ;
// context errors map to Canceled and DeadlineExceeded, anything else to
// Unknown), and a BatchCommands stream carrying the request fails with it,
// as if the connection broke: a transport failure is a connection's, so
// every request in flight on that stream fails too. The in-process Sender
// returns an error that unwraps to err and carries the same status, so
// status.Code and the ErrNotSent test agree with the gRPC path.
//
// The request has reached the store when the fault runs, so the client's
// transport reports it as possibly sent. An err wrapping
// transport.ErrNotSent is the one exception, in process only: it simulates
// a send that never left (over gRPC it is an Unknown status). To fail
// requests as a dial failure does in both modes, use StopStore.
func Fail(err error) Action { return Action{kind: actFail, err: err} }

// LoseResponse executes the command and then fails the request with err
// instead of returning the response (client-go's rpcCommitTimeout): the
// client cannot tell whether the command was applied. err surfaces as for
// Fail.
func LoseResponse(err error) Action { return Action{kind: actLoseResponse, err: err} }

// FaultHandle is a registered Fault. Its methods are safe for concurrent
// use.
type FaultHandle struct {
	fs    *faultState
	fault Fault
	// Guarded by fs.mu.
	step    int // index into fault.Steps
	used    int // hits of the current step
	hits    int
	removed bool
}

// Hits returns how many requests the fault has acted on (Pass included).
func (h *FaultHandle) Hits() int {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	return h.hits
}

// Remove unregisters the fault: requests arriving later do not match it.
// Requests it already holds (Delay, Block) are not released. Removing twice
// is a no-op.
func (h *FaultHandle) Remove() {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if h.removed {
		return
	}
	h.removed = true
	h.fs.faults = slices.DeleteFunc(slices.Clone(h.fs.faults), func(x *FaultHandle) bool { return x == h })
}

// Inject registers f after the faults already registered and returns its
// handle. It panics if f has no steps, or if f.Cmd is set and a KeyError
// action could not be placed in its response: both are mistakes in the
// test.
func (c *Cluster) Inject(f Fault) *FaultHandle {
	if len(f.Steps) == 0 {
		panic("mocktikv: Inject: fault has no steps")
	}
	if f.Cmd != transport.CmdInvalid {
		if !f.Cmd.Valid() {
			panic(fmt.Sprintf("mocktikv: Inject: unknown command %d", uint16(f.Cmd)))
		}
		for _, s := range f.Steps {
			if s.Action.kind == actKeyError && !setKeyError(f.Cmd.NewResponse(), &kvrpcpb.KeyError{}) {
				panic(fmt.Sprintf("mocktikv: Inject: %s responses carry no KeyError", f.Cmd))
			}
		}
	}
	f.Key = bytes.Clone(f.Key)
	f.Steps = slices.Clone(f.Steps)
	h := &FaultHandle{fs: c.faults, fault: f}
	c.faults.mu.Lock()
	defer c.faults.mu.Unlock()
	c.faults.faults = append(slices.Clone(c.faults.faults), h)
	return h
}

// faultState holds the faults tests script into the cluster, and the
// regions' pinned safe ts (store_handlers.go).
type faultState struct {
	mu     sync.Mutex
	faults []*FaultHandle // registration order; replaced, never mutated
	safeTS map[uint64]uint64
}

func newFaultState() *faultState { return &faultState{safeTS: make(map[uint64]uint64)} }

// faultPlan is what the faults decided for one request: the non-terminal
// actions to run first, in registration order, then at most one terminal
// action.
type faultPlan struct {
	holds    []Action
	terminal *Action
}

// match consumes one hit of every matching fault up to the first terminal
// action and returns the resulting plan.
func (fs *faultState) match(storeID uint64, cmd transport.Cmd, req transport.Message) faultPlan {
	var plan faultPlan
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if len(fs.faults) == 0 {
		return plan
	}
	var keys [][]byte
	keysDone := false
	for _, h := range fs.faults {
		f := &h.fault
		if h.step >= len(f.Steps) ||
			(f.Cmd != transport.CmdInvalid && f.Cmd != cmd) ||
			(f.Store != 0 && f.Store != storeID) {
			continue
		}
		if f.Region != 0 && (!cmd.HasContext() || cmd.Context(req).GetRegionId() != f.Region) {
			continue
		}
		if f.Key != nil {
			if !keysDone {
				keys, keysDone = requestKeys(req), true
			}
			if !slices.ContainsFunc(keys, func(k []byte) bool { return bytes.Equal(k, f.Key) }) {
				continue
			}
		}
		if f.Match != nil && !f.Match(storeID, cmd, req) {
			continue
		}
		s := f.Steps[h.step]
		h.hits++
		if h.used++; s.Times > 0 && h.used >= s.Times {
			h.step, h.used = h.step+1, 0
		}
		if s.Action.kind.terminal() {
			a := s.Action
			plan.terminal = &a
			break
		}
		plan.holds = append(plan.holds, s.Action)
	}
	return plan
}

// hold runs the plan's non-terminal actions; it returns ctx's error if the
// request's context ends while it is held.
func (p faultPlan) hold(ctx context.Context) error {
	for _, a := range p.holds {
		switch a.kind {
		case actDelay:
			t := time.NewTimer(a.delay)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			}
		case actBlock:
			if err := a.gate.wait(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

// answer builds the outcome of a terminal action that does not execute the
// command.
func (a *Action) answer(cmd transport.Cmd, req transport.Message) (transport.Message, error) {
	switch a.kind {
	case actRegionError:
		resp := cmd.NewResponse()
		if !setRegionError(resp, proto.Clone(a.regionErr).(*errorpb.Error)) {
			return nil, status.Errorf(codes.Internal, "mocktikv: fault: %s responses carry no region error", cmd)
		}
		return resp, nil
	case actKeyError:
		resp := cmd.NewResponse()
		if !setKeyError(resp, proto.Clone(a.keyErr).(*kvrpcpb.KeyError)) {
			return nil, status.Errorf(codes.Internal, "mocktikv: fault: %s responses carry no KeyError", cmd)
		}
		return resp, nil
	case actRespond:
		resp := a.respond(req)
		if want := cmd.NewResponse(); resp == nil || reflect.TypeOf(resp) != reflect.TypeOf(want) {
			return nil, status.Errorf(codes.Internal, "mocktikv: fault: %s answered with %T, want %T", cmd, resp, want)
		}
		return resp, nil
	case actFail:
		return nil, newFaultError(a.err)
	}
	panic(fmt.Sprintf("mocktikv: fault action %d does not answer", a.kind))
}

// setRegionError sets resp's region_error; false when its type has none.
func setRegionError(resp transport.Message, e *errorpb.Error) bool {
	f := messageField(resp, "RegionError")
	if !f.IsValid() || f.Type() != reflect.TypeOf(e) {
		return false
	}
	f.Set(reflect.ValueOf(e))
	return true
}

// setKeyError puts e in resp's KeyError field (error) or list (errors);
// false when its type has neither.
func setKeyError(resp transport.Message, e *kvrpcpb.KeyError) bool {
	if f := messageField(resp, "Error"); f.IsValid() && f.Type() == reflect.TypeOf(e) {
		f.Set(reflect.ValueOf(e))
		return true
	}
	if f := messageField(resp, "Errors"); f.IsValid() && f.Type() == reflect.TypeOf([]*kvrpcpb.KeyError{}) {
		f.Set(reflect.ValueOf([]*kvrpcpb.KeyError{e}))
		return true
	}
	return false
}

// messageField returns the named field of a generated message, or the zero
// Value.
func messageField(m transport.Message, name string) reflect.Value {
	v := reflect.ValueOf(m)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return reflect.Value{}
	}
	return v.Elem().FieldByName(name)
}

var (
	bytesType     = reflect.TypeOf([]byte(nil))
	bytesListType = reflect.TypeOf([][]byte(nil))
)

// requestKeys returns the keys a request names (see Fault.Key).
func requestKeys(req transport.Message) [][]byte {
	var keys [][]byte
	for _, name := range []string{"Key", "StartKey", "PrimaryKey"} {
		if f := messageField(req, name); f.IsValid() && f.Type() == bytesType {
			keys = append(keys, f.Bytes())
		}
	}
	if f := messageField(req, "Keys"); f.IsValid() && f.Type() == bytesListType {
		keys = append(keys, f.Interface().([][]byte)...)
	}
	for _, list := range []string{"Mutations", "Pairs"} {
		f := messageField(req, list)
		if !f.IsValid() || f.Kind() != reflect.Slice {
			continue
		}
		for i := range f.Len() {
			if m, ok := f.Index(i).Interface().(transport.Message); ok {
				if k := messageField(m, "Key"); k.IsValid() && k.Type() == bytesType {
					keys = append(keys, k.Bytes())
				}
			}
		}
	}
	if hb, ok := req.(*kvrpcpb.TxnHeartBeatRequest); ok {
		keys = append(keys, hb.PrimaryLock)
	}
	return keys
}

// Gate holds the requests a Block action catches until the test opens it.
// A Gate is safe for concurrent use; it may serve several faults.
type Gate struct {
	open      chan struct{}
	openOnce  sync.Once
	arrived   chan struct{}
	arriveOne sync.Once

	mu      sync.Mutex
	waiting int
}

// NewGate returns a closed gate.
func NewGate() *Gate {
	return &Gate{open: make(chan struct{}), arrived: make(chan struct{})}
}

// Open releases every request held at the gate and lets later ones through
// at once. Opening an open gate is a no-op.
func (g *Gate) Open() { g.openOnce.Do(func() { close(g.open) }) }

// Arrived returns a channel closed once a request has reached the gate (the
// moment a test can act while a request is known to be in flight).
func (g *Gate) Arrived() <-chan struct{} { return g.arrived }

// Waiting returns how many requests are held at the gate now.
func (g *Gate) Waiting() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.waiting
}

func (g *Gate) wait(ctx context.Context) error {
	g.mu.Lock()
	g.waiting++
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.waiting--
		g.mu.Unlock()
	}()
	g.arriveOne.Do(func() { close(g.arrived) })
	select {
	case <-g.open:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
