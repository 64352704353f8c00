package raw

import (
	"bytes"
	"context"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
)

// Checksum summarizes the pairs of a key range as TiKV computes it
// (client-go's RawChecksum).
type Checksum struct {
	// Crc64Xor is the XOR over all pairs of the CRC-64 (ECMA polynomial,
	// as hash/crc64 computes it) of the key followed by the value. Under
	// API V2 the key is taken as TiKV stores it, with its 4-byte keyspace
	// prefix.
	Crc64Xor uint64
	// TotalKvs is the number of pairs.
	TotalKvs uint64
	// TotalBytes is the sum of key and value lengths, keys counted as for
	// Crc64Xor.
	TotalBytes uint64
}

// Checksum computes the checksum of the pairs with keys in [start, end)
// (empty start: the start of the key space; empty end: its end). Regions
// are checksummed in parallel and merged; expired pairs are not counted.
// The result is not a snapshot: writes during the call may or may not be
// seen.
//
// TiKV checksums the default column family only (RawChecksum names no
// column family), so Checksum takes no ColumnFamily option and ignores the
// client's (client-go ignores both silently).
//
// Options: ReplicaRead, Priority, RequestSource.
func (c *Client) Checksum(ctx context.Context, start, end []byte, opts ...CallOption) (Checksum, error) {
	ctx, cl, err := c.resolve(ctx, "Checksum", optsCommon|optReplicaRead, opts)
	if err != nil {
		return Checksum{}, err
	}
	if len(end) > 0 {
		switch bytes.Compare(start, end) {
		case 0:
			return Checksum{}, nil
		case 1:
			return Checksum{}, kv.InvalidArgument("inverted range [%q, %q)", start, end)
		}
	}
	resp, err := c.plans.Checksum(ctx, &kvrpcpb.RawChecksumRequest{
		Context:   cl.rctx,
		Algorithm: kvrpcpb.ChecksumAlgorithm_Crc64_Xor,
		Ranges:    []*kvrpcpb.KeyRange{{StartKey: start, EndKey: end}},
	})
	if err != nil {
		return Checksum{}, err
	}
	return Checksum{Crc64Xor: resp.GetChecksum(), TotalKvs: resp.GetTotalKvs(), TotalBytes: resp.GetTotalBytes()}, nil
}
