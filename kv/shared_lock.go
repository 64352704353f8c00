package kv

import "github.com/pingcap/kvproto/pkg/kvrpcpb"

// IsShared reports whether l is a shared lock as a whole (TiKV's
// SharedLocks container; client-go's Lock.IsShared): LockInfo.lock_type
// Op_SharedLock, with the transactions that hold it listed in
// LockInfo.shared_lock_infos. Such a lock belongs to no one transaction, so
// it has no status to check and cannot be resolved; its holders' locks
// can, one by one. plans.KeyError, KeyErrors and LocksFromInfo already
// report the holders' locks in its place, so a *LockedError never lists
// one.
func (l *Lock) IsShared() bool { return l.Type == kvrpcpb.Op_SharedLock }
