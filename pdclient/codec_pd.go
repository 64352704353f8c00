package pdclient

import (
	"context"
	"errors"
	"fmt"

	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/tikv/pd/client/clients/router"
	"github.com/tikv/pd/client/opt"

	"github.com/tikvgo/tikv/internal/apicodec"
	"github.com/tikvgo/tikv/internal/codec"
	"github.com/tikvgo/tikv/kv"
)

// codecPD is a PD whose region keys are logical: keys are encoded on the
// way to PD and region boundaries decoded (and clamped to the keyspace) on
// the way back, so the RegionCache above it only sees the keys the
// application uses (client-go's CodecPDClient).
type codecPD struct {
	PD
	c *apicodec.Codec
}

// WithCodec returns pd translated by c, or pd itself when c leaves region
// keys unchanged (raw keys under API v1).
func WithCodec(pd PD, c *apicodec.Codec) PD {
	if c == nil || c.Identity() {
		return pd
	}
	return &codecPD{PD: pd, c: c}
}

func (p *codecPD) decode(r *router.Region) (*router.Region, error) {
	if r == nil || r.Meta == nil {
		return r, nil
	}
	meta, err := p.c.DecodeRegion(r.Meta)
	if errors.Is(err, codec.ErrInvalidEncoding) {
		// The region's boundary is no key of this key space: under API v1
		// raw and transactional data share one key space, and a region
		// split at a raw key cannot route transactional keys (client-go
		// fails the same way). Asking PD again cannot help.
		return nil, &permanentError{fmt.Errorf("%w: %w (are raw and transactional keys mixed in one API v1 cluster?)", kv.ErrProtocol, err)}
	}
	if err != nil {
		return nil, err
	}
	out := *r
	out.Meta = meta
	if r.Buckets != nil {
		b, err := p.decodeBuckets(r.Buckets)
		if err != nil {
			return nil, &permanentError{fmt.Errorf("%w: region %d: %w", kv.ErrProtocol, meta.GetId(), err)}
		}
		out.Buckets = b
	}
	return &out, nil
}

// decodeBuckets returns a copy of b with logical boundaries, clamped to the
// keyspace (apicodec's DecodeBucketKeys): still sorted, from the region's
// logical start to its logical end.
func (p *codecPD) decodeBuckets(b *metapb.Buckets) (*metapb.Buckets, error) {
	keys, err := p.c.DecodeBucketKeys(b.GetKeys())
	if err != nil {
		return nil, err
	}
	out := *b
	out.Keys = keys
	return &out, nil
}

func (p *codecPD) GetRegion(ctx context.Context, key []byte, opts ...opt.GetRegionOption) (*router.Region, error) {
	r, err := p.PD.GetRegion(ctx, p.c.EncodeRegionKey(key), opts...)
	if err != nil {
		return nil, err
	}
	return p.decode(r)
}

func (p *codecPD) GetPrevRegion(ctx context.Context, key []byte, opts ...opt.GetRegionOption) (*router.Region, error) {
	r, err := p.PD.GetPrevRegion(ctx, p.c.EncodeRegionKey(key), opts...)
	if err != nil {
		return nil, err
	}
	d, err := p.decode(r)
	if errors.Is(err, apicodec.ErrOutOfKeyspace) {
		// The region before the keyspace's first one: there is none.
		return nil, nil
	}
	return d, err
}

func (p *codecPD) GetRegionByID(ctx context.Context, id uint64, opts ...opt.GetRegionOption) (*router.Region, error) {
	r, err := p.PD.GetRegionByID(ctx, id, opts...)
	if err != nil {
		return nil, err
	}
	return p.decode(r)
}

func (p *codecPD) BatchScanRegions(ctx context.Context, ranges []router.KeyRange, limit int, opts ...opt.GetRegionOption) ([]*router.Region, error) {
	enc := make([]router.KeyRange, len(ranges))
	for i, kr := range ranges {
		enc[i] = router.KeyRange{StartKey: p.c.EncodeRegionKey(kr.StartKey), EndKey: p.c.EncodeRegionEnd(kr.EndKey)}
	}
	regs, err := p.PD.BatchScanRegions(ctx, enc, limit, opts...)
	if err != nil {
		return nil, err
	}
	return p.decodeAll(regs)
}

// ScanRegions serves RegionCache's fallback for PDs without
// BatchScanRegions, when the wrapped PD has it.
func (p *codecPD) ScanRegions(ctx context.Context, key, end []byte, limit int, opts ...opt.GetRegionOption) ([]*router.Region, error) {
	s, ok := p.PD.(regionScanner)
	if !ok {
		return nil, errors.New("pdclient: PD has no ScanRegions")
	}
	regs, err := s.ScanRegions(ctx, p.c.EncodeRegionKey(key), p.c.EncodeRegionEnd(end), limit, opts...)
	if err != nil {
		return nil, err
	}
	return p.decodeAll(regs)
}

// decodeAll decodes scan results, dropping regions outside the keyspace.
func (p *codecPD) decodeAll(regs []*router.Region) ([]*router.Region, error) {
	out := make([]*router.Region, 0, len(regs))
	for _, r := range regs {
		d, err := p.decode(r)
		if errors.Is(err, apicodec.ErrOutOfKeyspace) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}
