package middleware

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	rmpb "github.com/pingcap/kvproto/pkg/resource_manager"
	"github.com/tikv/pd/client/resource_group/controller"

	"github.com/tikvgo/tikv/transport"
)

// ResourceControl returns the resource-control layer: every attempt that
// belongs to a resource group first waits for the group's request units
// (RU) in rc, PD's resource-group controller
// (github.com/tikv/pd/client/resource_group/controller, which
// tikv.WithResourceControl creates and runs), is then sent with the group
// in its kvrpcpb.Context.ResourceControlContext, and is charged for what
// its response says TiKV did. It is client-go's interceptedClient.SendRequest
// resource-control path as a middleware.
//
// An attempt's group is, in order: the one its request already names
// (txn.WithTxnResourceGroupName, txn.WithResourceGroupName), the one its
// ctx names (WithResourceGroup), and the client's default (the group
// argument, empty for none). An attempt with no group, or whose command
// carries no kvrpcpb.Context, passes untouched. The group is written into
// the attempt's context even when the controller is bypassed, so that TiKV
// schedules the request under it: the controller is bypassed, as in
// client-go, for internal requests whose request source contains
// "internal_others" and for the background job types the group declares
// (rc.IsBackgroundRequest; TiKV accounts for those itself).
//
// Per attempt, ResourceControl:
//   - calls rc.OnRequestWait, which blocks until the group's local token
//     bucket can pay the attempt's base and write cost (or ctx ends). A
//     refused wait is returned as a *ResourceGroupError, which wraps
//     transport.ErrNotSent (the attempt never left) and the controller's
//     error or ctx.Err(); it is terminal for the call (Terminal), as client-go
//     does not retry resource-group errors;
//   - fills the attempt's ResourceControlContext: the group name, the
//     penalty (the group's consumption on other stores since this store's
//     last request, which TiKV's scheduler weighs) and, when the request
//     sets none, the group's priority as OverridePriority;
//   - after a response, calls rc.OnResponse with the bytes read and TiKV's
//     process time; it never blocks, so a large read puts the group in
//     debt that later attempts wait out. (client-go calls OnResponseWait,
//     which may also wait after a huge read; a wait there could fail a
//     request that already took effect, which tikvgo does not do.)
//
// The RU an attempt is charged, and the time it waited, are added to the
// RUDetails its ctx carries (WithRUDetails).
//
// ResourceControl writes only the part of the attempt's kvrpcpb.Context it
// owns (transport's middleware contract: the attempt's Context is its own
// copy): it puts a new ResourceControlContext there, never writing the one
// it replaces, which other attempts may share. It is safe for concurrent use, runs
// once per physical attempt, and holds nothing across attempts (no token
// is kept through a retry's backoff: each attempt pays anew).
func ResourceControl(rc controller.ResourceGroupKVInterceptor, group string) transport.Middleware {
	return func(next transport.Sender) transport.Sender {
		return &resourceControl{rc: rc, group: group, next: next}
	}
}

type resourceControl struct {
	rc    controller.ResourceGroupKVInterceptor
	group string
	next  transport.Sender
}

// Send implements transport.Sender.
func (s *resourceControl) Send(ctx context.Context, req *transport.Request) (*transport.Response, error) {
	kctx := req.Cmd.Context(req.Msg)
	if kctx == nil {
		return s.next.Send(ctx, req)
	}
	group := kctx.GetResourceControlContext().GetResourceGroupName()
	if group == "" {
		group = ResourceGroupFrom(ctx)
	}
	if group == "" {
		group = s.group
	}
	if group == "" {
		return s.next.Send(ctx, req)
	}
	// The attempt owns its kvrpcpb.Context (transport's middleware
	// contract: every attempt has its own shallow copy), so the
	// resource-control part is set in place; only that part is new, as
	// the one it replaces may be shared with other attempts. One
	// allocation holds everything the attempt needs (rcAttempt).
	a := &rcAttempt{}
	rcc := &a.rcc
	rcc.ResourceGroupName = group
	if old := kctx.GetResourceControlContext(); old != nil {
		rcc.OverridePriority, rcc.Penalty = old.OverridePriority, old.Penalty
	}
	kctx.ResourceControlContext = rcc
	info := a.request(req, kctx)
	if info.bypass() || s.rc.IsBackgroundRequest(ctx, group, info.source) {
		return s.next.Send(ctx, req)
	}
	delta, penalty, wait, priority, err := s.rc.OnRequestWait(ctx, group, info)
	details := ruDetailsFrom(ctx)
	if err != nil {
		details.add(nil, wait)
		return nil, &ResourceGroupError{Group: group, Err: err}
	}
	rcc.Penalty = penalty
	// The group's priority goes with the request so TiKV need not look it
	// up (tikv/tikv#15994); a priority the request set wins.
	if rcc.OverridePriority == 0 {
		rcc.OverridePriority = uint64(priority)
	}
	details.add(delta, wait)
	resp, err := s.next.Send(ctx, req)
	if resp != nil {
		// The response is what matters to the caller; the controller's
		// OnResponse only fails for a group it no longer knows, and then
		// charges nothing.
		if delta, rerr := s.rc.OnResponse(group, info, a.response(resp.Msg)); rerr == nil {
			details.add(delta, 0)
		}
	}
	return resp, err
}

// rcAttempt is what ResourceControl builds for one attempt, in one
// allocation: the Context's resource-control part and the controller's
// views of the request and the response.
type rcAttempt struct {
	rcc  kvrpcpb.ResourceControlContext
	req  rcRequest
	resp rcResponse
}

func (a *rcAttempt) request(req *transport.Request, kctx *kvrpcpb.Context) *rcRequest {
	a.req.fill(req, kctx)
	return &a.req
}

func (a *rcAttempt) response(msg transport.Message) *rcResponse {
	a.resp.fill(msg)
	return &a.resp
}

// ResourceGroupError is a request the resource-control layer did not send:
// its group's controller refused or could not finish the wait for RU
// (the group is throttled beyond the controller's longest wait, PD does not
// know the group, ctx ended while waiting). It wraps transport.ErrNotSent
// and Err, and is terminal: retrying the same call at once would meet the
// same refusal.
type ResourceGroupError struct {
	Group string
	Err   error
}

// Error names the group and the cause, on one line.
func (e *ResourceGroupError) Error() string {
	return fmt.Sprintf("resource group %q: %v", e.Group, e.Err)
}

// Unwrap returns transport.ErrNotSent and the cause.
func (e *ResourceGroupError) Unwrap() []error { return []error{transport.ErrNotSent, e.Err} }

// Terminal reports that no retry should follow, unless the wait was cut by
// the caller's ctx (which the retry loop recognises on its own).
func (e *ResourceGroupError) Terminal() bool {
	return !errors.Is(e.Err, context.Canceled) && !errors.Is(e.Err, context.DeadlineExceeded)
}

type resourceGroupKey struct{}

// WithResourceGroup returns a context whose requests are charged to the
// resource group name, unless a request names its group itself (a
// transaction started with txn.WithTxnResourceGroupName). It is client-go's
// util.WithResourceGroupName: lock resolution and other requests made on
// behalf of the call inherit it. An empty name removes the context's group,
// leaving the client's default.
func WithResourceGroup(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, resourceGroupKey{}, name)
}

// ResourceGroupFrom returns the resource group ctx names, or "".
func ResourceGroupFrom(ctx context.Context) string {
	name, _ := ctx.Value(resourceGroupKey{}).(string)
	return name
}

// RUDetails accumulates the request units the attempts of the calls made
// with one context were charged and the time they waited for them, like
// client-go's util.RUDetails. Attach it with WithRUDetails. The zero value
// is ready to use; it is safe for concurrent use.
type RUDetails struct {
	mu       sync.Mutex
	rru, wru float64
	wait     time.Duration
}

type ruDetailsKey struct{}

// WithRUDetails returns a context whose attempts add their RU and waits to d.
func WithRUDetails(ctx context.Context, d *RUDetails) context.Context {
	return context.WithValue(ctx, ruDetailsKey{}, d)
}

func ruDetailsFrom(ctx context.Context) *RUDetails {
	d, _ := ctx.Value(ruDetailsKey{}).(*RUDetails)
	return d
}

// add records one controller answer; nil d records nothing.
func (d *RUDetails) add(c *rmpb.Consumption, wait time.Duration) {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.wait += wait
	if c != nil {
		d.rru += c.RRU
		d.wru += c.WRU
	}
}

// RRU returns the read request units charged.
func (d *RUDetails) RRU() float64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.rru
}

// WRU returns the write request units charged.
func (d *RUDetails) WRU() float64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.wru
}

// WaitDuration returns how long the attempts waited for request units.
func (d *RUDetails) WaitDuration() time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.wait
}
