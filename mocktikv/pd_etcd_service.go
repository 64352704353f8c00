package mocktikv

import (
	"bytes"
	"context"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
)

// registerEtcd adds etcd's KV and Cluster services (pd_etcd_kv.go) to PD's
// gRPC server, as PD's embedded etcd serves them on PD's address.
func registerEtcd(s *grpc.Server, st *etcdState) {
	pb.RegisterKVServer(s, &etcdKV{s: st})
	pb.RegisterClusterServer(s, &etcdCluster{s: st})
}

// etcdCluster is etcd's Cluster service for the single member; membership
// changes answer codes.Unimplemented.
type etcdCluster struct {
	pb.UnimplementedClusterServer
	s *etcdState
}

// MemberList lists the one member. clientv3's Sync replaces the client's
// endpoints with the members' client URLs, so they must reach this server.
func (c *etcdCluster) MemberList(context.Context, *pb.MemberListRequest) (*pb.MemberListResponse, error) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return &pb.MemberListResponse{Header: c.s.header(), Members: []*pb.Member{c.s.member()}}, nil
}

// etcdKV is etcd's KV service; Compact answers codes.Unimplemented.
type etcdKV struct {
	pb.UnimplementedKVServer
	s *etcdState
}

// Range reads keys at the current revision.
func (k *etcdKV) Range(_ context.Context, r *pb.RangeRequest) (*pb.RangeResponse, error) {
	k.s.mu.Lock()
	defer k.s.mu.Unlock()
	k.s.syncGCLocked()
	return k.s.rangeLocked(r)
}

// Put writes one key at a new revision.
func (k *etcdKV) Put(_ context.Context, r *pb.PutRequest) (*pb.PutResponse, error) {
	k.s.mu.Lock()
	defer k.s.mu.Unlock()
	k.s.syncGCLocked()
	if err := k.s.checkPutLocked(r); err != nil {
		return nil, err
	}
	w := k.s.beginWrite()
	resp := k.s.applyPut(w, r)
	w.commit()
	resp.Header = k.s.header()
	return resp, nil
}

// DeleteRange deletes the keys in a range; the revision moves only when a
// key was deleted.
func (k *etcdKV) DeleteRange(_ context.Context, r *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	k.s.mu.Lock()
	defer k.s.mu.Unlock()
	k.s.syncGCLocked()
	if err := k.s.checkDeleteLocked(r); err != nil {
		return nil, err
	}
	w := k.s.beginWrite()
	resp := k.s.applyDelete(w, r)
	w.commit()
	resp.Header = k.s.header()
	return resp, nil
}

// Txn evaluates the compares against the current state, then runs the
// chosen branch atomically at one new revision (etcd's applyTxn). Every
// op is checked before any is applied, so a refused txn writes nothing.
func (k *etcdKV) Txn(_ context.Context, r *pb.TxnRequest) (*pb.TxnResponse, error) {
	k.s.mu.Lock()
	defer k.s.mu.Unlock()
	k.s.syncGCLocked()
	plan, err := k.s.planTxnLocked(r)
	if err != nil {
		return nil, err
	}
	w := k.s.beginWrite()
	resp, err := k.s.applyTxn(w, plan)
	if err != nil {
		return nil, err
	}
	w.commit()
	resp.Header = k.s.header()
	return resp, nil
}

func (s *etcdState) checkPutLocked(r *pb.PutRequest) error {
	switch {
	case len(r.Key) == 0:
		return rpctypes.ErrGRPCEmptyKey
	case r.Lease != 0 && !r.IgnoreLease:
		// No Lease service: no lease can exist.
		return rpctypes.ErrGRPCLeaseNotFound
	case r.IgnoreValue && s.kvs[string(r.Key)] == nil:
		// etcd: ignore_value needs a value to keep.
		return rpctypes.ErrGRPCKeyNotFound
	case s.isGCKey(r.Key):
		return errGCKeyReadOnly(r.Key)
	}
	return nil
}

func (s *etcdState) checkDeleteLocked(r *pb.DeleteRangeRequest) error {
	if len(r.Key) == 0 {
		return rpctypes.ErrGRPCEmptyKey
	}
	if s.rangeTouchesGC(r.Key, r.RangeEnd) {
		return errGCKeyReadOnly(r.Key)
	}
	return nil
}

func (s *etcdState) applyPut(w *etcdWrite, r *pb.PutRequest) *pb.PutResponse {
	value := r.Value
	if r.IgnoreValue {
		value = s.kvs[string(r.Key)].Value
	}
	prev := w.put(r.Key, value)
	resp := &pb.PutResponse{}
	if r.PrevKv && prev != nil {
		resp.PrevKv = prev
	}
	return resp
}

func (s *etcdState) applyDelete(w *etcdWrite, r *pb.DeleteRangeRequest) *pb.DeleteRangeResponse {
	gone := s.matchLocked(r.Key, r.RangeEnd)
	resp := &pb.DeleteRangeResponse{Deleted: int64(len(gone))}
	for _, kv := range gone {
		w.delete(string(kv.Key))
	}
	if r.PrevKv {
		resp.PrevKvs = gone
	}
	return resp
}

// txnPlan is a txn with its branch chosen: the compares of nested txns are
// evaluated, like the outer ones, against the state before the txn.
type txnPlan struct {
	succeeded bool
	ops       []*pb.RequestOp
	nested    map[int]*txnPlan // op index -> plan of a nested txn
}

func (s *etcdState) planTxnLocked(r *pb.TxnRequest) (*txnPlan, error) {
	if len(r.Success) > etcdMaxTxnOps || len(r.Failure) > etcdMaxTxnOps {
		return nil, rpctypes.ErrGRPCTooManyOps
	}
	p := &txnPlan{succeeded: true, nested: map[int]*txnPlan{}}
	for _, c := range r.Compare {
		if !s.compareLocked(c) {
			p.succeeded = false
			break
		}
	}
	p.ops = r.Success
	if !p.succeeded {
		p.ops = r.Failure
	}
	puts := map[string]bool{}
	for i, op := range p.ops {
		switch op := op.Request.(type) {
		case *pb.RequestOp_RequestRange:
			if len(op.RequestRange.Key) == 0 {
				return nil, rpctypes.ErrGRPCEmptyKey
			}
		case *pb.RequestOp_RequestPut:
			if err := s.checkPutLocked(op.RequestPut); err != nil {
				return nil, err
			}
			// etcd refuses a txn that puts one key twice.
			if puts[string(op.RequestPut.Key)] {
				return nil, rpctypes.ErrGRPCDuplicateKey
			}
			puts[string(op.RequestPut.Key)] = true
		case *pb.RequestOp_RequestDeleteRange:
			if err := s.checkDeleteLocked(op.RequestDeleteRange); err != nil {
				return nil, err
			}
		case *pb.RequestOp_RequestTxn:
			n, err := s.planTxnLocked(op.RequestTxn)
			if err != nil {
				return nil, err
			}
			p.nested[i] = n
		}
	}
	return p, nil
}

// compareLocked is etcd's applyCompare: every key in the range must pass;
// a missing key compares as zero revisions and version, and fails any
// value compare (a missing value cannot be expressed in gRPC).
func (s *etcdState) compareLocked(c *pb.Compare) bool {
	kvs := s.matchLocked(c.Key, c.RangeEnd)
	if len(kvs) == 0 {
		if c.Target == pb.Compare_VALUE {
			return false
		}
		return compareKV(c, &mvccpb.KeyValue{})
	}
	for _, kv := range kvs {
		if !compareKV(c, kv) {
			return false
		}
	}
	return true
}

func compareKV(c *pb.Compare, kv *mvccpb.KeyValue) bool {
	var result int
	switch c.Target {
	case pb.Compare_VALUE:
		result = bytes.Compare(kv.Value, c.GetValue())
	case pb.Compare_CREATE:
		result = compareInt64(kv.CreateRevision, c.GetCreateRevision())
	case pb.Compare_MOD:
		result = compareInt64(kv.ModRevision, c.GetModRevision())
	case pb.Compare_VERSION:
		result = compareInt64(kv.Version, c.GetVersion())
	case pb.Compare_LEASE:
		result = compareInt64(kv.Lease, c.GetLease())
	}
	switch c.Result {
	case pb.Compare_EQUAL:
		return result == 0
	case pb.Compare_NOT_EQUAL:
		return result != 0
	case pb.Compare_GREATER:
		return result > 0
	case pb.Compare_LESS:
		return result < 0
	}
	return true
}

// applyTxn runs a planned branch; reads see the branch's earlier writes.
func (s *etcdState) applyTxn(w *etcdWrite, p *txnPlan) (*pb.TxnResponse, error) {
	resp := &pb.TxnResponse{Succeeded: p.succeeded}
	for i, op := range p.ops {
		var out *pb.ResponseOp
		switch op := op.Request.(type) {
		case *pb.RequestOp_RequestRange:
			// Reads inside a txn are at the txn's own state.
			rr := *op.RequestRange
			rr.Revision = 0
			r, err := s.rangeLocked(&rr)
			if err != nil {
				return nil, err
			}
			out = &pb.ResponseOp{Response: &pb.ResponseOp_ResponseRange{ResponseRange: r}}
		case *pb.RequestOp_RequestPut:
			out = &pb.ResponseOp{Response: &pb.ResponseOp_ResponsePut{ResponsePut: s.applyPut(w, op.RequestPut)}}
		case *pb.RequestOp_RequestDeleteRange:
			out = &pb.ResponseOp{Response: &pb.ResponseOp_ResponseDeleteRange{ResponseDeleteRange: s.applyDelete(w, op.RequestDeleteRange)}}
		case *pb.RequestOp_RequestTxn:
			r, err := s.applyTxn(w, p.nested[i])
			if err != nil {
				return nil, err
			}
			out = &pb.ResponseOp{Response: &pb.ResponseOp_ResponseTxn{ResponseTxn: r}}
		default:
			out = &pb.ResponseOp{}
		}
		resp.Responses = append(resp.Responses, out)
	}
	return resp, nil
}
