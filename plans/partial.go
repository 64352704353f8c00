package plans

import (
	"context"
	"errors"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pipeline"
)

// partial turns the *pipeline.ShardError of a multi-region write into a
// *kv.PartialWriteError: record files each piece's keys (or range) under
// its outcome, so a caller can tell what the write did without knowing how
// it was split.
func partial[Req, Resp any](op string, p pipeline.Plan[Req, []pipeline.Part[Req, Resp]], record func(pe *kv.PartialWriteError, s pipeline.PieceState, req Req)) pipeline.Plan[Req, []pipeline.Part[Req, Resp]] {
	return func(ctx context.Context, req Req) ([]pipeline.Part[Req, Resp], error) {
		parts, err := p(ctx, req)
		var se *pipeline.ShardError[Req, Resp]
		if err == nil || !errors.As(err, &se) {
			return parts, err
		}
		pe := &kv.PartialWriteError{Op: op, Cause: se.First()}
		for _, piece := range se.Pieces {
			record(pe, piece.State, piece.Req)
		}
		return nil, pe
	}
}

// partialKeys is partial for a batch write: each piece's keys.
func partialKeys[Req, Resp any](op string, p pipeline.Plan[Req, []pipeline.Part[Req, Resp]], keys func(Req) [][]byte) pipeline.Plan[Req, []pipeline.Part[Req, Resp]] {
	return partial(op, p, func(pe *kv.PartialWriteError, s pipeline.PieceState, req Req) {
		dst := &pe.NotApplied
		switch s {
		case pipeline.PieceDone:
			dst = &pe.Applied
		case pipeline.PieceUndetermined:
			dst = &pe.Undetermined
		}
		for _, k := range keys(req) {
			*dst = append(*dst, kv.Key(k))
		}
	})
}

// partialRanges is partial for a range write: each piece is one range.
func partialRanges[Req, Resp any](op string, p pipeline.Plan[Req, []pipeline.Part[Req, Resp]], rng func(Req) kv.KeyRange) pipeline.Plan[Req, []pipeline.Part[Req, Resp]] {
	return partial(op, p, func(pe *kv.PartialWriteError, s pipeline.PieceState, req Req) {
		dst := &pe.NotAppliedRanges
		switch s {
		case pipeline.PieceDone:
			dst = &pe.AppliedRanges
		case pipeline.PieceUndetermined:
			dst = &pe.UndeterminedRanges
		}
		*dst = append(*dst, rng(req))
	})
}
