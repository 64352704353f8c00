package pipeline

import (
	"context"
	"errors"
	"fmt"
	"iter"

	"golang.org/x/sync/errgroup"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/pipeline/backoff"
)

// Routed is one region's piece of a request: the request narrowed to the
// keys or range that region holds.
type Routed[Req any] struct {
	Region *pdclient.Region
	Req    Req
}

// Splitter routes a request by region and narrows it into per-region pieces,
// in key order. It locates regions lazily through loc as the sequence is
// consumed, and yields an error (then stops) when locating fails.
type Splitter[Req any] func(ctx context.Context, loc pdclient.Locator, req Req) iter.Seq2[Routed[Req], error]

// Part is one region's outcome: the piece actually sent and its response.
type Part[Req, Resp any] struct {
	Region *pdclient.Region
	Req    Req
	Resp   Resp
}

// Shard turns a per-region Step into a Plan over a whole request: split
// routes it, the pieces run in parallel (at most Env.Concurrency at once,
// the first in the calling goroutine when there is only one), and the
// answers come back as Parts in split order.
//
// When a piece's Step returns a non-fatal *kv.RegionError (its routing was
// stale), only that piece is split again against the updated region cache
// and sent again, after a RegionMiss backoff unless TiKV already told the
// cache the new layout; children replace the piece in place, so Parts stay
// in key order. A piece is re-split at most Env.MaxResplits times.
//
// The first other error cancels the remaining pieces and is returned once
// every goroutine Shard started has finished.
func Shard[Req, Resp any](e *Env, split Splitter[Req], next Step[Req, Resp]) Plan[Req, []Part[Req, Resp]] {
	s := &sharder[Req, Resp]{env: e, split: split, next: next}
	return func(ctx context.Context, req Req) ([]Part[Req, Resp], error) {
		return s.run(ctx, req, e.newBackoffer(), 0)
	}
}

type sharder[Req, Resp any] struct {
	env   *Env
	split Splitter[Req]
	next  Step[Req, Resp]
}

func (s *sharder[Req, Resp]) run(ctx context.Context, req Req, bo *backoff.Backoffer, depth int) ([]Part[Req, Resp], error) {
	var pieces []Routed[Req]
	for piece, err := range s.split(ctx, s.env.Locator, req) {
		if err != nil {
			return nil, err
		}
		pieces = append(pieces, piece)
	}
	if len(pieces) == 1 {
		return s.runPiece(ctx, pieces[0], bo, depth)
	}
	results := make([][]Part[Req, Resp], len(pieces))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.env.concurrency())
	for i, piece := range pieces {
		pieceBo := bo.Clone()
		g.Go(func() error {
			parts, err := s.runPiece(gctx, piece, pieceBo, depth)
			results[i] = parts
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	n := 0
	for _, r := range results {
		n += len(r)
	}
	out := make([]Part[Req, Resp], 0, n)
	for _, r := range results {
		out = append(out, r...)
	}
	return out, nil
}

func (s *sharder[Req, Resp]) runPiece(ctx context.Context, piece Routed[Req], bo *backoff.Backoffer, depth int) ([]Part[Req, Resp], error) {
	resp, err := s.next(ctx, piece.Region, piece.Req)
	if err == nil {
		return []Part[Req, Resp]{{Region: piece.Region, Req: piece.Req, Resp: resp}}, nil
	}
	if err := resplitWait(ctx, bo, err, depth, s.env.maxResplits()); err != nil {
		return nil, err
	}
	return s.run(ctx, piece.Req, bo, depth+1)
}

// resplitWait decides whether a piece that failed with err may be routed
// again: only for a non-fatal region error, within the re-split budget. It
// waits RegionMiss first unless the error already carried the new layout
// (a real EpochNotMatch), which client-go retries at once. A nil return
// means "re-split now"; otherwise it returns the error to report.
func resplitWait(ctx context.Context, bo *backoff.Backoffer, err error, depth, maxDepth int) error {
	var re *kv.RegionError
	if !errors.As(err, &re) || re.Fatal {
		return err
	}
	if depth >= maxDepth {
		return fmt.Errorf("gave up re-routing after %d re-splits: %w", depth, err)
	}
	if re.Err.GetEpochNotMatch() != nil && len(re.Err.GetEpochNotMatch().GetCurrentRegions()) > 0 {
		return nil
	}
	return bo.Wait(ctx, backoff.RegionMiss, err)
}
