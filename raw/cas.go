package raw

import (
	"context"
	"fmt"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
)

// ErrNotAtomic is returned by CompareAndSwap on a client that is not in
// atomic mode (WithAtomicForCAS), before anything is sent. It wraps
// kv.ErrInvalidArgument.
var ErrNotAtomic = fmt.Errorf("%w: CompareAndSwap needs atomic mode (raw.WithAtomicForCAS(true))", kv.ErrInvalidArgument)

// CompareAndSwap atomically replaces key's value with next if its current
// value equals previous, and reports the value it found and whether it
// swapped. previous == nil means "key must not exist" (client-go's
// convention), while a non-nil empty slice expects an empty value. The old
// value returned follows the same convention: nil when the key did not
// exist, a non-nil (possibly empty) slice otherwise, so it can be passed
// back as previous to retry a failed swap.
//
// The client must be in atomic mode (WithAtomicForCAS), else ErrNotAtomic.
//
// A CAS is never sent twice on the caller's behalf: when an attempt's
// outcome is unknown (the request may have reached TiKV, but no answer came
// back) it returns an error matching kv.ErrUndetermined, and the swap may
// or may not have happened; read the key to find out. Attempts that
// provably never reached TiKV (transport.ErrNotSent) and region errors,
// which TiKV returns before executing anything, are retried.
//
// Options: ColumnFamily, TTL (of the new value), Priority, RequestSource.
func (c *Client) CompareAndSwap(ctx context.Context, key, previous, next []byte, opts ...CallOption) (old []byte, swapped bool, err error) {
	ctx, cl, err := c.resolve(ctx, "CompareAndSwap", optsPut, opts)
	if err != nil {
		return nil, false, err
	}
	if !c.cfg.atomic {
		return nil, false, ErrNotAtomic
	}
	if len(key) == 0 {
		return nil, false, kv.InvalidArgument("empty key")
	}
	req := &kvrpcpb.RawCASRequest{Context: cl.rctx, Key: key, Value: next, Cf: cl.cf, Ttl: cl.ttl}
	if previous == nil {
		req.PreviousNotExist = true
	} else {
		req.PreviousValue = previous
	}
	resp, err := c.plans.CompareAndSwap(ctx, req)
	if err != nil {
		return nil, false, err
	}
	if resp.GetPreviousNotExist() {
		return nil, resp.GetSucceed(), nil
	}
	return nonNil(resp.GetPreviousValue()), resp.GetSucceed(), nil
}
