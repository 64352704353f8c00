package pdclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tikv/pd/client/clients/router"
	"github.com/tikv/pd/client/opt"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// permanentError marks a PD answer that asking again soon will not change;
// retryLoad returns it at once.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// loadBackoff returns the wait before retry number attempt (1-based).
func loadBackoff(attempt int) time.Duration {
	d := loadBackoffBase << (attempt - 1)
	if d <= 0 || d > loadBackoffCap {
		return loadBackoffCap
	}
	return d
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// retryLoad runs fetch until it succeeds, fails permanently (a
// *permanentError, or ctx ended) or maxLoadAttempts are spent, backing off in between. fetch is
// told whether it is retrying: retries read from the PD leader only, since
// the first answer may have come from a lagging follower (as client-go).
func retryLoad[T any](ctx context.Context, fetch func(retry bool) (T, error)) (T, error) {
	var zero T
	var last error
	for attempt := range maxLoadAttempts {
		if attempt > 0 {
			if err := sleepCtx(ctx, loadBackoff(attempt)); err != nil {
				return zero, fmt.Errorf("%w; last attempt: %w", err, last)
			}
		}
		v, err := fetch(attempt > 0)
		if err == nil {
			return v, nil
		}
		if perm := (*permanentError)(nil); errors.As(err, &perm) {
			return zero, err
		}
		if ctx.Err() != nil {
			return zero, fmt.Errorf("%w; last attempt: %w", ctx.Err(), err)
		}
		last = err
	}
	return zero, fmt.Errorf("gave up after %d attempts: %w", maxLoadAttempts, last)
}

// regionOpts asks PD for buckets too (cheap, and needed to split large
// scans), and on retries for the PD leader's answer.
func regionOpts(retry bool) []opt.GetRegionOption {
	if retry {
		return []opt.GetRegionOption{opt.WithBuckets(), opt.WithAllowPDLeaderOnly()}
	}
	return []opt.GetRegionOption{opt.WithBuckets()}
}

// fromPD converts PD's answer, rejecting a missing region (worth retrying:
// PD may not have heard from it yet) or one without peers.
func fromPD(reg *router.Region) (*Region, error) {
	if reg == nil || reg.Meta == nil {
		return nil, ErrRegionNotFound
	}
	if len(reg.Meta.GetPeers()) == 0 {
		// Nothing could serve it (client-go fails the same way).
		return nil, &permanentError{fmt.Errorf("PD returned region %d with no peers", reg.Meta.GetId())}
	}
	r := NewRegion(reg.Meta, reg.Leader)
	if reg.Buckets != nil {
		r = r.WithBuckets(reg.Buckets)
	}
	if len(reg.DownPeers) > 0 {
		r = r.WithDownPeers(reg.DownPeers)
	}
	return r, nil
}

// keep caches r. If the cache refuses r as stale (it holds something newer,
// typically because PD answered from a lagging follower), the newer cached
// region found by find is returned instead when there is one.
func (c *RegionCache) keep(r *Region, find func(*regionIndex) *regionEntry) *Region {
	if c.insert(r) {
		return r
	}
	if nr := c.cached(find); nr != nil {
		return nr
	}
	return r
}

// loadByKey asks PD for the region containing key or, with byEnd, for the
// region r with r.Start < key <= r.End (key non-empty).
//
// PD has no "by end key" lookup. GetRegion(key) answers it whenever key lies
// strictly inside a region; when key is exactly a region's start, the region
// wanted is the one before, which is what GetPrevRegion(key) returns.
func (c *RegionCache) loadByKey(ctx context.Context, key []byte, byEnd bool) (*Region, error) {
	r, err := retryLoad(ctx, func(retry bool) (*Region, error) {
		reg, err := c.pd.GetRegion(ctx, key, regionOpts(retry)...)
		if err != nil {
			return nil, err
		}
		if byEnd && reg != nil && reg.Meta != nil && bytes.Equal(reg.Meta.GetStartKey(), key) {
			reg, err = c.pd.GetPrevRegion(ctx, key, regionOpts(retry)...)
			if err != nil {
				return nil, err
			}
		}
		r, err := fromPD(reg)
		if err != nil {
			return nil, err
		}
		// PD's answers may straddle a split; insist on the region asked for.
		if (byEnd && !r.ContainsByEnd(key)) || (!byEnd && !r.Contains(key)) {
			return nil, fmt.Errorf("PD returned %v, which does not cover the key: %w", r, ErrRegionNotFound)
		}
		return r, nil
	})
	if err != nil {
		return nil, err
	}
	if byEnd {
		return c.keep(r, func(x *regionIndex) *regionEntry { return x.lookupByEnd(key) }), nil
	}
	return c.keep(r, func(x *regionIndex) *regionEntry { return x.lookup(key) }), nil
}

// loadByID asks PD for the region with the given id. PD not knowing the id
// is final (the region merged away), so it is not retried.
func (c *RegionCache) loadByID(ctx context.Context, id uint64) (*Region, error) {
	r, err := retryLoad(ctx, func(retry bool) (*Region, error) {
		reg, err := c.pd.GetRegionByID(ctx, id, regionOpts(retry)...)
		if err != nil {
			return nil, err
		}
		if reg == nil || reg.Meta == nil {
			return nil, &permanentError{fmt.Errorf("PD does not know it: %w", ErrRegionNotFound)}
		}
		return fromPD(reg)
	})
	if err != nil {
		return nil, err
	}
	return c.keep(r, func(x *regionIndex) *regionEntry { return x.byID[id] }), nil
}

// loadLast finds the last region (the one whose end key is empty). PD can
// only look regions up by a key inside them or scan forward, so it scans
// from the last region the cache knows (the whole key space on a cold
// cache), caching every page: a reverse scan starting at the end needs
// those regions next anyway.
func (c *RegionCache) loadLast(ctx context.Context) (*Region, error) {
	var from []byte
	c.mu.RLock()
	if e := c.idx.last(); e != nil {
		from = bytes.Clone(e.region.StartKey())
	}
	c.mu.RUnlock()
	for {
		page, err := c.scanPage(ctx, from, nil, c.cfg.pageSize)
		if err != nil {
			return nil, err
		}
		last := page[len(page)-1]
		if len(last.EndKey()) == 0 {
			return c.keep(last, func(x *regionIndex) *regionEntry { return x.lookupByEnd(nil) }), nil
		}
		from = last.EndKey()
	}
}

// scan appends to out (the regions covering [start, from), taken from the
// cache) the regions covering [from, end) from PD, at most limit in all
// when limit > 0, caching them.
func (c *RegionCache) scan(ctx context.Context, out []*Region, start, from, end []byte, limit int) ([]*Region, error) {
	for {
		n := c.cfg.pageSize
		if limit > 0 {
			n = min(n, limit-len(out))
		}
		page, err := c.scanPage(ctx, from, end, n)
		if err != nil {
			return nil, err
		}
		// PD's first region may reach back over regions taken from the
		// cache: they merged (or were reshaped) behind its back and are
		// stale. PD's answer replaced them in the cache; it replaces them
		// here too, so no key is covered twice (client-go's
		// TestBatchScanRegions). If that leaves a gap, it is scanned.
		dropped := false
		for len(out) > 0 && bytes.Compare(out[len(out)-1].EndKey(), page[0].StartKey()) > 0 {
			out, dropped = out[:len(out)-1], true
		}
		if dropped {
			gap := start
			if len(out) > 0 {
				gap = out[len(out)-1].EndKey()
			}
			if !page[0].Contains(gap) {
				from = gap
				continue
			}
		}
		out = append(out, page...)
		last := page[len(page)-1]
		if coversTo(last, end) || (limit > 0 && len(out) >= limit) {
			return out, nil
		}
		from = last.EndKey()
	}
}

// scanPage loads and caches up to n regions from the one containing from,
// stopping at end. It returns a non-empty, gap-free run of regions starting
// with the one containing from, retrying while PD has a hole there (a region
// whose leader has not reported yet).
func (c *RegionCache) scanPage(ctx context.Context, from, end []byte, n int) ([]*Region, error) {
	page, err := retryLoad(ctx, func(retry bool) ([]*Region, error) {
		regs, err := c.pd.BatchScanRegions(ctx, []router.KeyRange{{StartKey: from, EndKey: end}}, n, regionOpts(retry)...)
		if status.Code(err) == codes.Unimplemented {
			// A PD older than BatchScanRegions: use ScanRegions, when the
			// client has it (the real pd.Client does).
			if old, ok := c.pd.(regionScanner); ok {
				regs, err = old.ScanRegions(ctx, from, end, n, regionOpts(retry)...)
			}
		}
		if err != nil {
			return nil, err
		}
		page := contiguous(regs, from)
		if len(page) == 0 {
			return nil, fmt.Errorf("no region from key %q: %w", from, ErrRegionNotFound)
		}
		return page, nil
	})
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	for _, r := range page {
		c.idx.insert(c.newEntry(r))
	}
	c.mu.Unlock()
	return page, nil
}

// regionScanner is the deprecated scan of older PDs, which the real
// pd.Client still offers.
type regionScanner interface {
	ScanRegions(ctx context.Context, key, endKey []byte, limit int, opts ...opt.GetRegionOption) ([]*router.Region, error)
}

// contiguous converts PD's scan result, keeping the prefix that starts with
// the region containing from and has no gap or unusable region.
func contiguous(regs []*router.Region, from []byte) []*Region {
	var out []*Region
	for _, reg := range regs {
		r, err := fromPD(reg)
		if err != nil {
			break
		}
		if len(out) == 0 {
			if !r.Contains(from) {
				break
			}
		} else if !bytes.Equal(out[len(out)-1].EndKey(), r.StartKey()) {
			break
		}
		out = append(out, r)
		if len(r.EndKey()) == 0 {
			break
		}
	}
	return out
}
