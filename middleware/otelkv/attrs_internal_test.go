package otelkv

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tikvgo/tikv/kv"
)

// TestErrorType: error.type names each failure by a stable, low-cardinality
// label through any wrapping; a missing key is not a failure.
func TestErrorType(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{fmt.Errorf("get: %w", kv.ErrNotFound), ""},
		{fmt.Errorf("x: %w", context.Canceled), "canceled"},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), "deadline_exceeded"},
		{kv.Undetermined(errors.New("lost")), "undetermined"},
		{fmt.Errorf("send: %w", kv.ErrNotSent), "not_sent"},
		{&kv.RegionError{RegionID: 2, Err: &errorpb.Error{ServerIsBusy: &errorpb.ServerIsBusy{}}}, "ServerIsBusy"},
		{&kv.RegionError{RegionID: 2}, "no_replica"},
		{fmt.Errorf("rpc: %w", status.Error(codes.Unavailable, "down")), "Unavailable"},
		{errors.New("something"), "_OTHER"},
	} {
		if got := errorType(c.err); got != c.want {
			t.Errorf("errorType(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}

// TestCacheBounded: past maxCached entries the cache builds values without
// keeping them.
func TestCacheBounded(t *testing.T) {
	built := 0
	c := newCache(func(k int) int { built++; return k * 2 })
	for i := range maxCached + 10 {
		if v := c.get(i); v != i*2 {
			t.Fatalf("get(%d) = %d", i, v)
		}
	}
	c.get(1)
	c.get(maxCached + 5)
	if len(c.m) != maxCached || built != maxCached+11 {
		t.Fatalf("cached %d, built %d; want %d cached, %d built", len(c.m), built, maxCached, maxCached+11)
	}
}
