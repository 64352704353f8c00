package txn

// ProbeKeepAliveRunning reports whether the transaction runs heartbeats
// for a primary lock (client-go's committer IsTTLRunning).
func (t *Txn) ProbeKeepAliveRunning() bool { return t.pess.stopKeepAlive != nil }

// ProbeLockedCount returns how many pessimistic locks the transaction
// counts as held (client-go's GetLockedCount).
func (t *Txn) ProbeLockedCount() int { return t.pess.locked }

// ProbePrimary returns the pessimistic transaction's primary, nil when
// none is chosen (client-go's committer GetPrimaryKey).
func (t *Txn) ProbePrimary() []byte { return t.pess.primary }
