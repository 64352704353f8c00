package pipeline

import (
	"context"
	"fmt"
)

// MergeFunc combines the Parts of a sharded call into the call's result.
// It sees the call's context and the caller's whole request (not only the
// per-region pieces), so a merge can apply a per-call limit, restore the
// caller's key order, or read options the pieces do not carry. Parts come
// in key order.
type MergeFunc[Req, Resp, Out any] func(ctx context.Context, req Req, parts []Part[Req, Resp]) (Out, error)

// Merge post-processes the Parts of a sharded plan into one result
// (client-rust's Merge stage).
func Merge[Req, Resp, Out any](p Plan[Req, []Part[Req, Resp]], merge MergeFunc[Req, Resp, Out]) Plan[Req, Out] {
	return func(ctx context.Context, req Req) (Out, error) {
		parts, err := p(ctx, req)
		if err != nil {
			var zero Out
			return zero, err
		}
		return merge(ctx, req, parts)
	}
}

// Single is for requests that always route to one region (a single key):
// it returns that region's response. More than one Part — a request that
// straddled regions — is reported as an error rather than dropped.
func Single[Req, Resp any](p Plan[Req, []Part[Req, Resp]]) Plan[Req, Resp] {
	return func(ctx context.Context, req Req) (Resp, error) {
		parts, err := p(ctx, req)
		if err == nil && len(parts) != 1 {
			err = fmt.Errorf("pipeline: single-region request produced %d parts", len(parts))
		}
		if err != nil {
			var zero Resp
			return zero, err
		}
		return parts[0].Resp, nil
	}
}

// Collect concatenates items(resp) over all Parts, in key order.
func Collect[Req, Resp, T any](p Plan[Req, []Part[Req, Resp]], items func(Resp) []T) Plan[Req, []T] {
	return func(ctx context.Context, req Req) ([]T, error) {
		parts, err := p(ctx, req)
		if err != nil {
			return nil, err
		}
		var out []T
		for _, part := range parts {
			out = append(out, items(part.Resp)...)
		}
		return out, nil
	}
}

// Resps returns the responses of all Parts; use it as Merge(p, Resps) when
// only the responses matter.
func Resps[Req, Resp any](_ context.Context, _ Req, parts []Part[Req, Resp]) ([]Resp, error) {
	out := make([]Resp, len(parts))
	for i, part := range parts {
		out[i] = part.Resp
	}
	return out, nil
}

// Discard drops the Parts; use it as Merge(p, Discard) for writes whose
// responses carry nothing once their errors are checked.
func Discard[Req, Resp any](context.Context, Req, []Part[Req, Resp]) (struct{}, error) {
	return struct{}{}, nil
}
