package txn

// KeepPessimisticLocks makes t leave its pessimistic locks in TiKV when a
// LockKeys call fails or t rolls back, as a client that died would: the
// heartbeats still stop, but no KvPessimisticRollback is sent (client-go's
// beforeAsyncPessimisticRollback "skip" and onRollback
// "skipRollbackPessimisticLock" failpoints).
func (t *Txn) KeepPessimisticLocks() { t.keepPessimisticLocks = true }
