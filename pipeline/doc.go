// Package pipeline is tikvgo's plan algebra: how one logical request becomes
// RPCs to regions, what is retried, and how the answers are combined.
//
// A Plan is a function value built once per client and reused concurrently;
// the request is its argument. Plans are composed from a per-region Step and
// a few combinators, in the order shard -> retry -> merge:
//
//	step := pipeline.Retry(env, plans.RawBatchGet)          // one region, replica-level retry
//	parts := pipeline.Shard(env, splitter, step)               // split by region, fan out, re-split
//	plan := pipeline.Collect(parts, (*kvrpcpb.RawBatchGetResponse).GetPairs)
//
// Retry owns the per-region retry loop and TiKV's region-error table;
// Shard owns routing: it splits a request by region, runs the pieces in
// parallel under a concurrency limit and, when a piece's routing turns out to
// be stale, re-splits only that piece. Stream walks regions in key order for
// scans and yields pages as an iter.Seq2.
//
// Every attempt goes through Env.Sender, the transport middleware chain, so
// interceptors see retries too. Every wait selects on the caller's context,
// and nothing is retried after the context ends. Shard and Stream carry one
// retry state per piece through Retry (by the context): a request
// spends one backoff budget across re-routes, and its attempts are numbered
// across them.
//
// What is sent again follows the Method: a read, or a command marked
// Idempotent, after any failure; any other command only when the error
// proves the attempt never left the client (transport.ErrNotSent). Once an
// attempt may have reached TiKV the result is kv.ErrUndetermined, and a
// request of several pieces reports each piece's fate (ShardError).
//
// The package is public so that users can compose plans of their own from
// the same pieces tikvgo's clients use.
package pipeline
