package plans

import (
	"strings"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/transport"
)

// StringErr returns the Method.Err of a command that reports failure as a
// message in its response body (the raw commands, KvDeleteRange,
// UnsafeDestroyRange, the Mvcc and flashback commands, ...): a
// *kv.ServerError naming cmd and carrying the message verbatim.
func StringErr[R interface{ GetError() string }](cmd transport.Cmd) func(R) error {
	return func(resp R) error {
		if msg := resp.GetError(); msg != "" {
			return &kv.ServerError{Cmd: cmd.String(), Msg: msg}
		}
		return nil
	}
}

// PairsErr returns the Method.Err of a raw read that reports failure
// inside its pair list (RawScan, RawBatchGet: a keyless pair whose error
// is set, extract_kv_pairs in TiKV's src/server/service/kv.rs): a
// *kv.ServerError naming cmd, with the pair's abort message (or the whole
// key error's text when it has none).
func PairsErr[R any](cmd transport.Cmd, pairs func(R) []*kvrpcpb.KvPair) func(R) error {
	return func(resp R) error {
		for _, p := range pairs(resp) {
			if e := p.GetError(); e != nil {
				msg := e.GetAbort()
				if msg == "" {
					msg = e.String()
				}
				return &kv.ServerError{Cmd: cmd.String(), Msg: msg}
			}
		}
		return nil
	}
}

// RegionError turns TiKV's region error, as a response carries it, into
// the *kv.RegionError pipeline.Retry reports, for a Step that sends by
// other means than Retry. It does not retry anything: Retry first absorbs
// what it can within the region (NotLeader, ServerIsBusy, StaleCommand,
// ...) and returns the rest this way. Fatal is set for the errors no
// re-routing can fix, as Retry sets it (pipeline/retry.go,
// handleRegionError): RaftEntryTooLarge, FlashbackNotPrepared,
// FlashbackInProgress, UndeterminedResult (Retry also wraps that one in
// kv.ErrUndetermined: the write may have applied) and TiKV's "invalid
// max_ts update". A non-fatal one asks Shard or Stream to re-route the
// piece against fresh region metadata. Nil for nil.
func RegionError(regionID uint64, e *errorpb.Error) *kv.RegionError {
	if e == nil {
		return nil
	}
	fatal := e.RaftEntryTooLarge != nil || e.FlashbackNotPrepared != nil || e.FlashbackInProgress != nil ||
		e.UndeterminedResult != nil || strings.Contains(e.GetMessage(), "invalid max_ts update")
	return &kv.RegionError{RegionID: regionID, Err: e, Fatal: fatal}
}
