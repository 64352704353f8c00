package mocktikv

// registerTxnHandlers adds the transactional (Percolator) commands. The MVCC
// engine registers its commands here.
func registerTxnHandlers(t handlerTable) {}

// txnState is the cluster's transactional state: the MVCC engine and lock
// waiting. It is shared by all stores, as data is.
type txnState struct{}

func newTxnState() *txnState { return &txnState{} }
