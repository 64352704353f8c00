package plans

import (
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/transport"
)

// rawError maps the error string raw commands put in their response body
// to a typed error.
func rawError[R interface{ GetError() string }](cmd transport.Cmd) func(R) error {
	return func(resp R) error {
		if msg := resp.GetError(); msg != "" {
			return &kv.ServerError{Cmd: cmd.String(), Msg: msg}
		}
		return nil
	}
}

// Raw command descriptors. Raw writes are idempotent (a put or delete
// applied twice leaves the same state); compare-and-swap is not, and is
// added with it.
var (
	RawGet = pipeline.Method[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse]{
		Cmd: transport.CmdRawGet, Err: rawError[*kvrpcpb.RawGetResponse](transport.CmdRawGet), Idempotent: true, Read: true,
	}
	RawBatchGet = pipeline.Method[*kvrpcpb.RawBatchGetRequest, *kvrpcpb.RawBatchGetResponse]{
		Cmd: transport.CmdRawBatchGet, Idempotent: true, Read: true,
	}
	RawPut = pipeline.Method[*kvrpcpb.RawPutRequest, *kvrpcpb.RawPutResponse]{
		Cmd: transport.CmdRawPut, Err: rawError[*kvrpcpb.RawPutResponse](transport.CmdRawPut), Idempotent: true,
	}
	RawBatchPut = pipeline.Method[*kvrpcpb.RawBatchPutRequest, *kvrpcpb.RawBatchPutResponse]{
		Cmd: transport.CmdRawBatchPut, Err: rawError[*kvrpcpb.RawBatchPutResponse](transport.CmdRawBatchPut), Idempotent: true,
	}
	RawDelete = pipeline.Method[*kvrpcpb.RawDeleteRequest, *kvrpcpb.RawDeleteResponse]{
		Cmd: transport.CmdRawDelete, Err: rawError[*kvrpcpb.RawDeleteResponse](transport.CmdRawDelete), Idempotent: true,
	}
	RawBatchDelete = pipeline.Method[*kvrpcpb.RawBatchDeleteRequest, *kvrpcpb.RawBatchDeleteResponse]{
		Cmd: transport.CmdRawBatchDelete, Err: rawError[*kvrpcpb.RawBatchDeleteResponse](transport.CmdRawBatchDelete), Idempotent: true,
	}
	RawDeleteRange = pipeline.Method[*kvrpcpb.RawDeleteRangeRequest, *kvrpcpb.RawDeleteRangeResponse]{
		Cmd: transport.CmdRawDeleteRange, Err: rawError[*kvrpcpb.RawDeleteRangeResponse](transport.CmdRawDeleteRange), Idempotent: true,
	}
	RawScan = pipeline.Method[*kvrpcpb.RawScanRequest, *kvrpcpb.RawScanResponse]{
		Cmd: transport.CmdRawScan, Idempotent: true, Read: true,
	}
)
