package txn

import "github.com/tikvgo/tikv/txn/txnlock"

// WithResolveLiteThreshold sets the size, in keys, under which the
// client's lock resolver resolves only the locked keys it met rather than
// the whole region of the lock's transaction (client-go's
// TiKVClient.ResolveLockLiteThreshold; default
// txnlock.DefaultLiteThreshold, 512). A transaction's size is the
// TxnSize its locks carry. Lower it when large transactions leave many
// locks per region, so that one resolve clears them all; raise it to keep
// resolves of mid-sized transactions to the keys a reader needs.
func WithResolveLiteThreshold(n uint64) Option {
	return func(c *clientConfig) { c.resolverOpts = append(c.resolverOpts, txnlock.WithLiteThreshold(n)) }
}
