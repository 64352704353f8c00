package plans

import (
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/transport"
)

// Raw command descriptors. Raw reads are idempotent. Raw writes are not,
// although a put or delete applied twice leaves the same value: with other
// writers on the same key, a copy resent after an attempt whose outcome is
// unknown can land after their acknowledged writes and undo them (a deleted
// value comes back, a CAS swap is lost). So, as etcd's clientv3 does for
// its mutating calls, a raw write is sent again only when the error proves
// the earlier attempt never left (transport.ErrNotSent); otherwise Retry
// reports kv.ErrUndetermined. NewRaw's ResendWrites restores client-go's
// at-least-once resend for callers who accept that anomaly. Compare-and-swap
// is never resent: it decides on the value it finds.
var (
	RawGet = pipeline.Method[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse]{
		Cmd: transport.CmdRawGet, Err: StringErr[*kvrpcpb.RawGetResponse](transport.CmdRawGet), Idempotent: true, Read: true,
	}
	RawBatchGet = pipeline.Method[*kvrpcpb.RawBatchGetRequest, *kvrpcpb.RawBatchGetResponse]{
		Cmd: transport.CmdRawBatchGet, Err: PairsErr(transport.CmdRawBatchGet, (*kvrpcpb.RawBatchGetResponse).GetPairs),
		Idempotent: true, Read: true,
	}
	RawPut = pipeline.Method[*kvrpcpb.RawPutRequest, *kvrpcpb.RawPutResponse]{
		Cmd: transport.CmdRawPut, Err: StringErr[*kvrpcpb.RawPutResponse](transport.CmdRawPut),
	}
	RawBatchPut = pipeline.Method[*kvrpcpb.RawBatchPutRequest, *kvrpcpb.RawBatchPutResponse]{
		Cmd: transport.CmdRawBatchPut, Err: StringErr[*kvrpcpb.RawBatchPutResponse](transport.CmdRawBatchPut),
	}
	RawDelete = pipeline.Method[*kvrpcpb.RawDeleteRequest, *kvrpcpb.RawDeleteResponse]{
		Cmd: transport.CmdRawDelete, Err: StringErr[*kvrpcpb.RawDeleteResponse](transport.CmdRawDelete),
	}
	RawBatchDelete = pipeline.Method[*kvrpcpb.RawBatchDeleteRequest, *kvrpcpb.RawBatchDeleteResponse]{
		Cmd: transport.CmdRawBatchDelete, Err: StringErr[*kvrpcpb.RawBatchDeleteResponse](transport.CmdRawBatchDelete),
	}
	RawDeleteRange = pipeline.Method[*kvrpcpb.RawDeleteRangeRequest, *kvrpcpb.RawDeleteRangeResponse]{
		Cmd: transport.CmdRawDeleteRange, Err: StringErr[*kvrpcpb.RawDeleteRangeResponse](transport.CmdRawDeleteRange),
	}
	RawScan = pipeline.Method[*kvrpcpb.RawScanRequest, *kvrpcpb.RawScanResponse]{
		Cmd: transport.CmdRawScan, Err: PairsErr(transport.CmdRawScan, (*kvrpcpb.RawScanResponse).GetKvs),
		Idempotent: true, Read: true,
	}
	// RawBatchScan scans several ranges of one region in one request
	// (each range bounded by its own limit); a failure is a keyless pair,
	// as for RawScan.
	RawBatchScan = pipeline.Method[*kvrpcpb.RawBatchScanRequest, *kvrpcpb.RawBatchScanResponse]{
		Cmd: transport.CmdRawBatchScan, Err: PairsErr(transport.CmdRawBatchScan, (*kvrpcpb.RawBatchScanResponse).GetKvs),
		Idempotent: true, Read: true,
	}
	RawGetKeyTTL = pipeline.Method[*kvrpcpb.RawGetKeyTTLRequest, *kvrpcpb.RawGetKeyTTLResponse]{
		Cmd: transport.CmdRawGetKeyTTL, Err: StringErr[*kvrpcpb.RawGetKeyTTLResponse](transport.CmdRawGetKeyTTL), Idempotent: true, Read: true,
	}
	// RawCompareAndSwap is never resent, not even with ResendWrites.
	RawCompareAndSwap = pipeline.Method[*kvrpcpb.RawCASRequest, *kvrpcpb.RawCASResponse]{
		Cmd: transport.CmdRawCompareAndSwap, Err: StringErr[*kvrpcpb.RawCASResponse](transport.CmdRawCompareAndSwap), Idempotent: false,
	}
	RawChecksum = pipeline.Method[*kvrpcpb.RawChecksumRequest, *kvrpcpb.RawChecksumResponse]{
		Cmd: transport.CmdRawChecksum, Err: StringErr[*kvrpcpb.RawChecksumResponse](transport.CmdRawChecksum), Idempotent: true, Read: true,
	}
)
