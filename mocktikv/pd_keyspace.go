package mocktikv

import (
	"context"
	"encoding/binary"
	"slices"
	"time"

	"github.com/gogo/protobuf/proto"
	"github.com/pingcap/kvproto/pkg/keyspacepb"
	"github.com/pingcap/kvproto/pkg/pdpb"

	"github.com/tikvgo/tikv/internal/codec"
)

// Keyspace ids and names PD reserves (pkg/keyspace/constant).
const (
	// DefaultKeyspaceName is the keyspace PD creates at bootstrap.
	DefaultKeyspaceName = "DEFAULT"
	// DefaultKeyspaceID is the id of DefaultKeyspaceName.
	DefaultKeyspaceID uint32 = 0
	// NullKeyspaceID is the id clients use for "no keyspace" (API v1); PD's
	// GC states of the null keyspace are the cluster's unified GC states.
	NullKeyspaceID uint32 = 0xFFFFFFFF
	// maxKeyspaceID is the largest id a keyspace can have: ids are 24 bits.
	maxKeyspaceID uint32 = 0xFFFFFF
)

// WithKeyspace creates a keyspace named name, as PD's keyspace manager does
// when one is created: keyspaces get ids from 1 in the order of the options
// (DEFAULT, id 0, always exists), are ENABLED, use unified GC, and have their
// region boundaries split (PD's splitKeyspaceRegion): regions start at the
// stored form of the raw prefix 'r'+id and the transactional prefix 'x'+id
// (3-byte big-endian id) and of the next keyspace's prefixes, so each
// keyspace's keys live in regions of their own. A name given twice, or
// DEFAULT, creates nothing.
func WithKeyspace(name string) Option {
	return func(c *config) { c.keyspaces = append(c.keyspaces, name) }
}

// keyspaceRegistry is PD's keyspace metadata. It is immutable after
// NewCluster, so it needs no lock.
type keyspaceRegistry struct {
	metas []*keyspacepb.KeyspaceMeta // by id, ascending
}

func newKeyspaceRegistry(names []string, now time.Time) *keyspaceRegistry {
	reg := &keyspaceRegistry{}
	add := func(id uint32, name string) {
		reg.metas = append(reg.metas, &keyspacepb.KeyspaceMeta{
			Keyspace:       &keyspacepb.KeyspaceMeta_Id{Id: id},
			Name:           name,
			State:          keyspacepb.KeyspaceState_ENABLED,
			CreatedAt:      now.Unix(),
			StateChangedAt: now.Unix(),
			Config:         map[string]string{},
		})
	}
	add(DefaultKeyspaceID, DefaultKeyspaceName)
	next := uint32(1)
	for _, name := range names {
		if name == "" || reg.byName(name) != nil {
			continue
		}
		add(next, name)
		next++
	}
	return reg
}

// splitKeys returns the region boundaries PD splits for the created
// keyspaces (not for DEFAULT, whose keys the initial region holds), in
// stored form: codec.EncodeBytes of mode byte + 3-byte id, as PD's
// keyspace.MakeRegionBound.
func (r *keyspaceRegistry) splitKeys() [][]byte {
	var out [][]byte
	for _, m := range r.metas {
		id := m.GetId()
		if id == DefaultKeyspaceID {
			continue
		}
		for _, mode := range []byte{'r', 'x'} {
			out = append(out, keyspaceBound(mode, id), keyspaceBound(mode, id+1))
		}
	}
	return out
}

// keyspaceBound is the stored form of the first key of keyspace id in the
// given key mode ('r' raw, 'x' transactional).
func keyspaceBound(mode byte, id uint32) []byte {
	var prefix [4]byte
	binary.BigEndian.PutUint32(prefix[:], id)
	prefix[0] = mode
	return codec.EncodeBytes(nil, prefix[:])
}

func (r *keyspaceRegistry) byName(name string) *keyspacepb.KeyspaceMeta {
	for _, m := range r.metas {
		if m.Name == name {
			return m
		}
	}
	return nil
}

func (r *keyspaceRegistry) byID(id uint32) *keyspacepb.KeyspaceMeta {
	for _, m := range r.metas {
		if m.GetId() == id {
			return m
		}
	}
	return nil
}

// Keyspaces returns copies of every keyspace's metadata, by id, DEFAULT
// first.
func (c *Cluster) Keyspaces() []*keyspacepb.KeyspaceMeta {
	out := make([]*keyspacepb.KeyspaceMeta, len(c.keyspaces.metas))
	for i, m := range c.keyspaces.metas {
		out[i] = proto.Clone(m).(*keyspacepb.KeyspaceMeta)
	}
	return out
}

// errKeyspaceNotFound is PD's ErrKeyspaceNotFound text.
const errKeyspaceNotFound = "[PD:keyspace:ErrKeyspaceNotFound]keyspace does not exist"

// pdKeyspace is PD's keyspacepb.Keyspace service (server/keyspace_service.go):
// loading keyspace metadata by name or id and listing it. Keyspaces cannot
// be created or changed through it (CreateKeyspace is an HTTP API; the
// state update and watch answer Unimplemented).
type pdKeyspace struct {
	keyspacepb.UnimplementedKeyspaceServer
	pd *pdService
}

func (s *pdKeyspace) notFound() *pdpb.ResponseHeader {
	return s.pd.errorHeader(pdpb.ErrorType_ENTRY_NOT_FOUND, errKeyspaceNotFound)
}

// LoadKeyspace returns the keyspace with the request's name; an unknown
// name is reported in the header as ENTRY_NOT_FOUND.
func (s *pdKeyspace) LoadKeyspace(ctx context.Context, req *keyspacepb.LoadKeyspaceRequest) (*keyspacepb.LoadKeyspaceResponse, error) {
	var resp *keyspacepb.LoadKeyspaceResponse
	err := s.pd.serveUnary(ctx, "LoadKeyspace", req.GetHeader(), func() {
		m := s.pd.c.keyspaces.byName(req.GetName())
		if m == nil {
			resp = &keyspacepb.LoadKeyspaceResponse{Header: s.notFound()}
			return
		}
		resp = &keyspacepb.LoadKeyspaceResponse{Header: s.pd.header(), Keyspace: proto.Clone(m).(*keyspacepb.KeyspaceMeta)}
	})
	return resp, err
}

// LoadKeyspaceByID returns the keyspace with the request's id.
func (s *pdKeyspace) LoadKeyspaceByID(ctx context.Context, req *keyspacepb.LoadKeyspaceByIDRequest) (*keyspacepb.LoadKeyspaceResponse, error) {
	var resp *keyspacepb.LoadKeyspaceResponse
	err := s.pd.serveUnary(ctx, "LoadKeyspaceByID", req.GetHeader(), func() {
		m := s.pd.c.keyspaces.byID(req.GetId())
		if m == nil {
			resp = &keyspacepb.LoadKeyspaceResponse{Header: s.notFound()}
			return
		}
		resp = &keyspacepb.LoadKeyspaceResponse{Header: s.pd.header(), Keyspace: proto.Clone(m).(*keyspacepb.KeyspaceMeta)}
	})
	return resp, err
}

// GetAllKeyspaces lists keyspaces with ids from start_id on, at most limit
// of them (all when limit is 0), as PD's LoadRangeKeyspace. A start id
// beyond the valid range is an error.
func (s *pdKeyspace) GetAllKeyspaces(ctx context.Context, req *keyspacepb.GetAllKeyspacesRequest) (*keyspacepb.GetAllKeyspacesResponse, error) {
	var resp *keyspacepb.GetAllKeyspacesResponse
	err := s.pd.serveUnary(ctx, "GetAllKeyspaces", req.GetHeader(), func() {
		start := req.GetStartId()
		if start > maxKeyspaceID {
			resp = &keyspacepb.GetAllKeyspacesResponse{Header: s.pd.errorHeader(pdpb.ErrorType_UNKNOWN,
				"startID of the scan exceeds the maximum keyspace id")}
			return
		}
		resp = &keyspacepb.GetAllKeyspacesResponse{Header: s.pd.header(), Keyspaces: []*keyspacepb.KeyspaceMeta{}}
		i, _ := slices.BinarySearchFunc(s.pd.c.keyspaces.metas, start, func(m *keyspacepb.KeyspaceMeta, id uint32) int {
			return int(int64(m.GetId()) - int64(id))
		})
		for _, m := range s.pd.c.keyspaces.metas[i:] {
			if req.GetLimit() > 0 && uint32(len(resp.Keyspaces)) >= req.GetLimit() {
				break
			}
			resp.Keyspaces = append(resp.Keyspaces, proto.Clone(m).(*keyspacepb.KeyspaceMeta))
		}
	})
	return resp, err
}
