package pipeline

import (
	"context"
	"fmt"
)

// Merge post-processes the Parts of a sharded plan into one result.
func Merge[Req, Resp, Out any](p Plan[Req, []Part[Req, Resp]], merge func([]Part[Req, Resp]) (Out, error)) Plan[Req, Out] {
	return func(ctx context.Context, req Req) (Out, error) {
		parts, err := p(ctx, req)
		if err != nil {
			var zero Out
			return zero, err
		}
		return merge(parts)
	}
}

// Single is for requests that always route to one region (a single key):
// it returns that region's response. More than one Part — a request that
// straddled regions — is reported as an error rather than dropped.
func Single[Req, Resp any](p Plan[Req, []Part[Req, Resp]]) Plan[Req, Resp] {
	return Merge(p, func(parts []Part[Req, Resp]) (Resp, error) {
		if len(parts) != 1 {
			var zero Resp
			return zero, fmt.Errorf("pipeline: single-region request produced %d parts", len(parts))
		}
		return parts[0].Resp, nil
	})
}

// Collect concatenates items(resp) over all Parts, in key order.
func Collect[Req, Resp, T any](p Plan[Req, []Part[Req, Resp]], items func(Resp) []T) Plan[Req, []T] {
	return Merge(p, func(parts []Part[Req, Resp]) ([]T, error) {
		var out []T
		for _, part := range parts {
			out = append(out, items(part.Resp)...)
		}
		return out, nil
	})
}

// Resps returns the responses of all Parts; use it as Merge(p, Resps) when
// only the responses matter.
func Resps[Req, Resp any](parts []Part[Req, Resp]) ([]Resp, error) {
	out := make([]Resp, len(parts))
	for i, part := range parts {
		out[i] = part.Resp
	}
	return out, nil
}

// Discard drops the Parts; use it as Merge(p, Discard) for writes whose
// responses carry nothing once their errors are checked.
func Discard[Req, Resp any]([]Part[Req, Resp]) (struct{}, error) { return struct{}{}, nil }
