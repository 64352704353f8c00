package pdclient

import (
	"context"
	"errors"
	"time"

	perrors "github.com/pingcap/errors"
	"github.com/tikv/pd/client/clients/router"
	"github.com/tikv/pd/client/opt"
	"github.com/tikv/pd/client/pkg/circuitbreaker"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// DefaultRegionMetaBreakerSettings are client-go's settings of its PD
// region-meta circuit breaker (internal/locate/region_cache.go): a 30s
// error-rate window that needs 10 calls a second on average before it is
// judged, a 10s cool-down, one half-open probe, and no error-rate threshold,
// which leaves the breaker closed until one is set.
var DefaultRegionMetaBreakerSettings = circuitbreaker.Settings{
	ErrorRateWindow:      30 * time.Second,
	MinQPSForOpen:        10,
	CoolDownInterval:     10 * time.Second,
	HalfOpenSuccessCount: 1,
}

// WithRegionMetaBreaker returns pd with its region-metadata reads
// (GetRegion, GetPrevRegion, GetRegionByID, BatchScanRegions and
// ScanRegions) passed through cb, PD client's error-rate circuit breaker:
// client-go's PD region-meta breaker (core row 28), which keeps a cluster
// of clients from piling region loads onto an overloaded PD. A call counts
// as failed when PD is overloaded or unreachable (gRPC DeadlineExceeded,
// Unavailable or ResourceExhausted, or a context deadline), as PD's own
// interceptor judges; while cb is open such calls fail at once with PD
// client's ErrCircuitBreakerOpen. Other calls pass through unchanged.
//
// client-go attaches the breaker to the call's context for PD client's gRPC
// interceptor; here the wrapper runs it around the call itself, so that it
// acts the same on any PD implementation (mocktikv's in-process PD
// included), and it is not attached to the context, so it is never counted
// twice.
func WithRegionMetaBreaker(pd PD, cb *circuitbreaker.CircuitBreaker) PD {
	return metaBreakerPD{PD: pd, cb: cb}
}

type metaBreakerPD struct {
	PD
	cb *circuitbreaker.CircuitBreaker
}

func breakerCall[T any](cb *circuitbreaker.CircuitBreaker, call func() (T, error)) (T, error) {
	var v T
	err := cb.Execute(func() (circuitbreaker.Overloading, error) {
		var err error
		v, err = call()
		return overloaded(err), err
	})
	return v, err
}

// overloaded is PD client's judgement (pkg/utils/grpcutil, isOverloaded),
// extended to errors that wrap the status or the context deadline.
func overloaded(err error) circuitbreaker.Overloading {
	if err == nil {
		return circuitbreaker.No
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return circuitbreaker.Yes
	}
	// PD client wraps gRPC errors with pingcap/errors, whose Cause PD's
	// interceptor reads; errors.As finds a status wrapped the standard way.
	code := status.Code(perrors.Cause(err))
	var se interface{ GRPCStatus() *status.Status }
	if code == codes.Unknown && errors.As(err, &se) {
		code = se.GRPCStatus().Code()
	}
	switch code {
	case codes.DeadlineExceeded, codes.Unavailable, codes.ResourceExhausted:
		return circuitbreaker.Yes
	default:
		return circuitbreaker.No
	}
}

func (p metaBreakerPD) GetRegion(ctx context.Context, key []byte, opts ...opt.GetRegionOption) (*router.Region, error) {
	return breakerCall(p.cb, func() (*router.Region, error) { return p.PD.GetRegion(ctx, key, opts...) })
}

func (p metaBreakerPD) GetPrevRegion(ctx context.Context, key []byte, opts ...opt.GetRegionOption) (*router.Region, error) {
	return breakerCall(p.cb, func() (*router.Region, error) { return p.PD.GetPrevRegion(ctx, key, opts...) })
}

func (p metaBreakerPD) GetRegionByID(ctx context.Context, id uint64, opts ...opt.GetRegionOption) (*router.Region, error) {
	return breakerCall(p.cb, func() (*router.Region, error) { return p.PD.GetRegionByID(ctx, id, opts...) })
}

func (p metaBreakerPD) BatchScanRegions(ctx context.Context, ranges []router.KeyRange, limit int, opts ...opt.GetRegionOption) ([]*router.Region, error) {
	return breakerCall(p.cb, func() ([]*router.Region, error) { return p.PD.BatchScanRegions(ctx, ranges, limit, opts...) })
}

// ScanRegions passes the deprecated scan through when the wrapped PD has it
// (see regionScanner), and answers Unimplemented otherwise.
func (p metaBreakerPD) ScanRegions(ctx context.Context, key, end []byte, limit int, opts ...opt.GetRegionOption) ([]*router.Region, error) {
	old, ok := p.PD.(regionScanner)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "pdclient: the PD client has no ScanRegions")
	}
	return breakerCall(p.cb, func() ([]*router.Region, error) { return old.ScanRegions(ctx, key, end, limit, opts...) })
}
