package plans

import (
	"context"
	"errors"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pipeline"
)

// partialKeys turns the *pipeline.ShardError of a multi-region batch write
// into a *kv.PartialWriteError that names the keys of each piece by
// outcome, so a caller can tell what the write did without knowing how it
// was split.
func partialKeys[Req, Resp any](op string, p pipeline.Plan[Req, []pipeline.Part[Req, Resp]], keys func(Req) [][]byte) pipeline.Plan[Req, []pipeline.Part[Req, Resp]] {
	return func(ctx context.Context, req Req) ([]pipeline.Part[Req, Resp], error) {
		parts, err := p(ctx, req)
		var se *pipeline.ShardError[Req, Resp]
		if err == nil || !errors.As(err, &se) {
			return parts, err
		}
		pe := &kv.PartialWriteError{Op: op, Cause: se.First()}
		for _, piece := range se.Pieces {
			dst := outcomeKeys(pe, piece.State)
			for _, k := range keys(piece.Req) {
				*dst = append(*dst, kv.Key(k))
			}
		}
		return nil, pe
	}
}

// partialRanges is partialKeys for a range write: each piece is one range.
func partialRanges[Req, Resp any](op string, p pipeline.Plan[Req, []pipeline.Part[Req, Resp]], rng func(Req) kv.KeyRange) pipeline.Plan[Req, []pipeline.Part[Req, Resp]] {
	return func(ctx context.Context, req Req) ([]pipeline.Part[Req, Resp], error) {
		parts, err := p(ctx, req)
		var se *pipeline.ShardError[Req, Resp]
		if err == nil || !errors.As(err, &se) {
			return parts, err
		}
		pe := &kv.PartialWriteError{Op: op, Cause: se.First()}
		for _, piece := range se.Pieces {
			var dst *[]kv.KeyRange
			switch piece.State {
			case pipeline.PieceDone:
				dst = &pe.AppliedRanges
			case pipeline.PieceUndetermined:
				dst = &pe.UndeterminedRanges
			default:
				dst = &pe.NotAppliedRanges
			}
			*dst = append(*dst, rng(piece.Req))
		}
		return nil, pe
	}
}

func outcomeKeys(pe *kv.PartialWriteError, s pipeline.PieceState) *[]kv.Key {
	switch s {
	case pipeline.PieceDone:
		return &pe.Applied
	case pipeline.PieceUndetermined:
		return &pe.Undetermined
	default:
		return &pe.NotApplied
	}
}
