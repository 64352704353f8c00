package raw

import (
	"context"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
)

// GetKeyTTL returns how long key has left to live, rounded down to whole
// seconds as TiKV counts them:
//
//   - a key written with a TTL returns its remaining time, > 0;
//   - a key written without one returns 0 and a nil error: it never
//     expires;
//   - a missing or expired key returns kv.ErrNotFound (client-go returns a
//     nil *uint64).
//
// TTLs exist only on TTL-enabled stores (storage.api-version V1TTL or V2);
// others answer with a *kv.ServerError.
//
// Options: ColumnFamily, ReplicaRead, Priority, RequestSource.
func (c *Client) GetKeyTTL(ctx context.Context, key []byte, opts ...CallOption) (time.Duration, error) {
	ctx, cl, err := c.resolve(ctx, "GetKeyTTL", optsRead, opts)
	if err != nil {
		return 0, err
	}
	if len(key) == 0 {
		return 0, kv.InvalidArgument("empty key")
	}
	resp, err := c.plans.GetKeyTTL(ctx, &kvrpcpb.RawGetKeyTTLRequest{Context: cl.rctx, Key: key, Cf: cl.cf})
	if err != nil {
		return 0, err
	}
	if resp.GetNotFound() {
		return 0, kv.ErrNotFound
	}
	return durationOfSeconds(resp.GetTtl()), nil
}
