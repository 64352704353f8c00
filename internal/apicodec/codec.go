// Package apicodec translates between the keys tikvgo's plans use (logical
// keys, as the application sees them) and the keys TiKV and PD store, for
// each API version and key mode.
//
//   - API v1, raw keys: stored as they are.
//   - API v1, transactional keys: requests carry them as they are; TiKV
//     stores them memcomparable-encoded, so region boundaries (from PD and
//     in region errors) are encoded.
//   - API v2: every key carries its keyspace's 4-byte prefix, 'r' (raw) or
//     'x' (txn) and the keyspace id in 3 bytes big-endian; requests carry the
//     prefixed key, region boundaries are the memcomparable encoding of it.
//     Region boundaries are clamped to the keyspace: a region that starts
//     before it starts at "" for the client, one that ends after it ends at
//     "".
//
// A Codec is immutable and safe for concurrent use.
package apicodec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvgo/tikv/internal/codec"
	"github.com/tikvgo/tikv/kv"
)

// Keyspace key prefixes of API v2 (client-go's CodecV2RawKeyspacePrefix and
// CodecV2TxnKeyspacePrefix).
const (
	RawPrefix byte = 'r'
	TxnPrefix byte = 'x'
	// MaxKeyspaceID is the largest id that fits the 3-byte prefix.
	MaxKeyspaceID = 1<<24 - 1
)

// ErrOutOfKeyspace is wrapped by decodings of keys that do not belong to the
// codec's keyspace.
var ErrOutOfKeyspace = errors.New("apicodec: key is outside the keyspace")

// Codec is the translation for one API version, key mode and keyspace.
type Codec struct {
	version    kvrpcpb.APIVersion
	mode       kv.KeyMode
	keyspaceID uint32
	prefix     []byte // v2 only
	prefixEnd  []byte // v2 only: the first key after the keyspace
}

// NewV1 returns the API v1 codec for mode.
func NewV1(mode kv.KeyMode) *Codec {
	return &Codec{version: kvrpcpb.APIVersion_V1, mode: mode}
}

// NewV2 returns the API v2 codec for mode (kv.ModeRaw or kv.ModeTxn) in
// the keyspace with id. Any other mode, or an id over MaxKeyspaceID, is an
// error wrapping kv.ErrInvalidArgument: a codec built with a wrong prefix
// would read and write another keyspace's keys.
func NewV2(mode kv.KeyMode, keyspaceID uint32) (*Codec, error) {
	if keyspaceID > MaxKeyspaceID {
		return nil, kv.InvalidArgument("keyspace id %d does not fit in 3 bytes", keyspaceID)
	}
	var p byte
	switch mode {
	case kv.ModeRaw:
		p = RawPrefix
	case kv.ModeTxn:
		p = TxnPrefix
	default:
		return nil, kv.InvalidArgument("key mode %s has no API v2 prefix", mode)
	}
	prefix := binary.BigEndian.AppendUint32(nil, uint32(p)<<24|keyspaceID)
	// The keyspace ends where the next one starts: the 4-byte prefix plus
	// one, carried into the higher bytes (for the last id, into the mode
	// byte), as client-go and TiKV compute it. A shorter end such as
	// PrefixNext's, which drops the carried zeros, would bound the same
	// keys but differ on the wire: TiKV and PD report keyspace ends in the
	// 4-byte form, and DecodeRange must recognise them.
	prefixEnd := binary.BigEndian.AppendUint32(nil, (uint32(p)<<24|keyspaceID)+1)
	return &Codec{
		version:    kvrpcpb.APIVersion_V2,
		mode:       mode,
		keyspaceID: keyspaceID,
		prefix:     prefix,
		prefixEnd:  prefixEnd,
	}, nil
}

// APIVersion is the version requests must declare in their Context.
func (c *Codec) APIVersion() kvrpcpb.APIVersion { return c.version }

// Mode is the key mode.
func (c *Codec) Mode() kv.KeyMode { return c.mode }

// KeyspaceID is the keyspace (0 for API v1).
func (c *Codec) KeyspaceID() uint32 { return c.keyspaceID }

// Identity reports whether the codec changes nothing, neither request keys
// nor region boundaries (raw keys under API v1).
func (c *Codec) Identity() bool { return !c.storedForm() }

// V2 reports whether keys carry a keyspace prefix.
func (c *Codec) V2() bool { return c.version == kvrpcpb.APIVersion_V2 }

// EncodeKey returns the key as requests carry it.
func (c *Codec) EncodeKey(k []byte) []byte {
	if !c.V2() {
		return k
	}
	out := make([]byte, 0, len(c.prefix)+len(k))
	return append(append(out, c.prefix...), k...)
}

// EncodeEnd returns a range end as requests carry it: an empty end (the end
// of the key space) becomes the end of the keyspace.
func (c *Codec) EncodeEnd(k []byte) []byte {
	if c.V2() && len(k) == 0 {
		return bytes.Clone(c.prefixEnd)
	}
	return c.EncodeKey(k)
}

// DecodeKey strips the keyspace prefix from a key TiKV returned.
func (c *Codec) DecodeKey(k []byte) ([]byte, error) {
	if !c.V2() {
		return k, nil
	}
	if !bytes.HasPrefix(k, c.prefix) {
		return nil, fmt.Errorf("%w: %q", ErrOutOfKeyspace, k)
	}
	return k[len(c.prefix):], nil
}

// DecodeRange strips the keyspace prefix from a key range TiKV returned
// (a coprocessor response's range, say): the start must lie in the
// keyspace, and the end in it or at its end (which becomes "", the end of
// everything, as EncodeEnd's inverse). Anything else, an empty (unbounded)
// end included, wraps ErrOutOfKeyspace: a range reaching into another
// keyspace is never narrowed silently.
func (c *Codec) DecodeRange(start, end []byte) ([]byte, []byte, error) {
	if !c.V2() {
		return start, end, nil
	}
	s, err := c.DecodeKey(start)
	if err != nil {
		return nil, nil, fmt.Errorf("range start: %w", err)
	}
	if bytes.Equal(end, c.prefixEnd) {
		return s, nil, nil
	}
	e, err := c.DecodeKey(end)
	if err != nil {
		return nil, nil, fmt.Errorf("range end: %w", err)
	}
	return s, e, nil
}

// InKeyspace reports whether a key as TiKV stores it (not region-encoded)
// belongs to the codec's keyspace; every key does under v1.
func (c *Codec) InKeyspace(k []byte) bool { return !c.V2() || bytes.HasPrefix(k, c.prefix) }

// storedForm reports whether region boundaries are memcomparable-encoded.
func (c *Codec) storedForm() bool { return c.V2() || c.mode == kv.ModeTxn }

// EncodeRegionKey returns the key as PD and region boundaries store it.
// An empty key stays empty (the start or end of everything).
func (c *Codec) EncodeRegionKey(k []byte) []byte {
	if !c.storedForm() {
		return k
	}
	return codec.EncodeBytes(nil, c.EncodeKey(k))
}

// EncodeRegionEnd is EncodeRegionKey for a range end: an empty end is the
// end of the keyspace under v2 (and stays empty, the end of everything,
// under v1); any other end carries the keyspace prefix like a start key.
func (c *Codec) EncodeRegionEnd(k []byte) []byte {
	if !c.storedForm() {
		return k
	}
	if len(k) == 0 {
		if c.V2() {
			return codec.EncodeBytes(nil, c.prefixEnd)
		}
		return nil
	}
	return c.EncodeRegionKey(k)
}

// decodeBoundary turns a stored region boundary into a logical one:
// boundaries before the keyspace become "" with before=true, after it ""
// with after=true.
func (c *Codec) decodeBoundary(k []byte) (out []byte, before, after bool, err error) {
	if !c.storedForm() || len(k) == 0 {
		return k, false, false, nil
	}
	_, raw, err := codec.DecodeBytes(k)
	if err != nil {
		return nil, false, false, err
	}
	if !c.V2() {
		return raw, false, false, nil
	}
	switch {
	case bytes.Compare(raw, c.prefix) <= 0:
		return nil, true, false, nil
	case bytes.Compare(raw, c.prefixEnd) >= 0:
		return nil, false, true, nil
	}
	return raw[len(c.prefix):], false, false, nil
}

// DecodeRegion returns a copy of a region as PD or TiKV describe it, with
// logical boundaries clamped to the keyspace, or an error wrapping
// ErrOutOfKeyspace when the region lies entirely outside it.
func (c *Codec) DecodeRegion(r *metapb.Region) (*metapb.Region, error) {
	if !c.storedForm() {
		return r, nil
	}
	start, _, startAfter, err := c.decodeBoundary(r.GetStartKey())
	if err != nil {
		return nil, fmt.Errorf("region %d start: %w", r.GetId(), err)
	}
	end, endBefore, _, err := c.decodeBoundary(r.GetEndKey())
	if err != nil {
		return nil, fmt.Errorf("region %d end: %w", r.GetId(), err)
	}
	if startAfter || (endBefore && len(r.GetEndKey()) > 0) {
		return nil, fmt.Errorf("%w: region %d", ErrOutOfKeyspace, r.GetId())
	}
	out := *r
	out.StartKey, out.EndKey = start, end
	return &out, nil
}
