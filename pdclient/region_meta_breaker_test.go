package pdclient

import (
	"context"
	"errors"
	"fmt"
	"testing"

	perrors "github.com/pingcap/errors"
	"github.com/tikv/pd/client/pkg/circuitbreaker"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestRegionMetaBreakerJudgesOverload: only PD overload or unreachability
// counts against the region-meta breaker, as PD client's interceptor
// judges (pkg/utils/grpcutil isOverloaded), however the status is wrapped.
func TestRegionMetaBreakerJudgesOverload(t *testing.T) {
	cases := []struct {
		err  error
		want circuitbreaker.Overloading
	}{
		{nil, circuitbreaker.No},
		{status.Error(codes.Unavailable, "x"), circuitbreaker.Yes},
		{status.Error(codes.ResourceExhausted, "x"), circuitbreaker.Yes},
		{status.Error(codes.DeadlineExceeded, "x"), circuitbreaker.Yes},
		{perrors.WithStack(status.Error(codes.Unavailable, "x")), circuitbreaker.Yes},
		{fmt.Errorf("load region: %w", status.Error(codes.Unavailable, "x")), circuitbreaker.Yes},
		{fmt.Errorf("load region: %w", context.DeadlineExceeded), circuitbreaker.Yes},
		{status.Error(codes.InvalidArgument, "x"), circuitbreaker.No},
		{errors.New("region not found"), circuitbreaker.No},
	}
	for _, c := range cases {
		if got := overloaded(c.err); got != c.want {
			t.Errorf("overloaded(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
