// Package pipeline is tikvgo's plan algebra: how one logical request becomes
// RPCs to regions, what is retried, and how the answers are combined.
//
// A Plan is a function value built once per client and reused concurrently;
// the request is its argument. Plans are composed from a per-region Step and
// a few combinators, in the order shard -> retry -> merge:
//
//	step := pipeline.Retry(env, plans.RawBatchGet)    // one region: replica choice, region errors, backoff
//	parts := pipeline.Shard(env, splitter, step)      // split by region, fan out, re-split stale pieces
//	plan := pipeline.Merge(parts, mergeFunc)          // combine, seeing the caller's request
//
// # Stages
//
// The stages and their counterparts among client-rust's PlanBuilder stages
// (client-rust: src/request/plan_builder.rs):
//
//	tikvgo                          what it does                                        client-rust
//	Retry(env, method)              the per-region retry loop: replica selection,        Dispatch (one send) inside
//	                                TiKV's region-error table, backoff, the fault         RetryableMultiRegion's
//	                                rules; one piece, many attempts                       per-region retry
//	Shard(env, splitter, step)      split by region, fan out (Env.Concurrency),          retry_multi_region
//	                                re-split a piece whose routing went stale; the
//	                                first failure stops the call
//	ShardByKey(env, key, step)      Shard over ByKey(key), routing a single-key          single_region
//	                                command without an iterator
//	ShardEach(env, splitter, step)  Shard that runs every piece to its end and           retry_multi_region_preserve_results
//	                                returns each piece's outcome                          + preserve_shard
//	AllStores(env, method, ...)     one request per store, per-store retry and           all_stores
//	                                results
//	Stream(env, cursor, step)       a scan, page by page through regions, as a           (none: client-rust scans in a
//	                                StreamPlan (iter.Seq2)                                hand-written loop)
//	Merge(plan, mergeFunc)          combine Parts, with the call's ctx and request       merge(Collect...)
//	Single, Collect, Resps,         the common merges                                    CollectSingle, Collect,
//	Discard                                                                               post_process_default
//	Method.Err                      a response body's failure as a typed error           extract_error
//	ResolveLocks(env, r, ..., step) settle the locks an answer reports (a LockResolver),  resolve_lock
//	                                then send again within the piece's budget
//
// Splitters route a request: ByKey (one key), ByKeys (a batch of keys,
// grouped per region, with size limits), ByRange (one range) and ByRanges
// (several ranges).
//
// # Retries, budgets and faults
//
// Every attempt goes through Env.Sender, the transport middleware chain, so
// interceptors see retries too. Every wait selects on the caller's context,
// and nothing is retried after the context ends. Shard and Stream carry one
// retry state per piece through Retry (by the context): a request spends one
// backoff budget across re-routes, and its attempts are numbered across
// them.
//
// What is sent again follows the Method: a read, or a command marked
// Idempotent, after any failure; any other command only when the error
// proves the attempt never left the client (transport.ErrNotSent). Once an
// attempt may have reached TiKV the result is kv.ErrUndetermined, and a
// request of several pieces reports each piece's fate (ShardError).
//
// # Observation
//
// Each top-level Shard, ShardEach, Stream or AllStores call is one logical
// call (named with Named): every attempt carries its identity, its piece
// number and its attempt number (transport.Request.Call, Piece, Attempt),
// and an Observer installed in Env.Observer sees its start, end, splits,
// re-splits, backoffs, region-cache misses and PD calls (package observe).
//
// # Environments
//
// An Env is tied to one key space (Env.Mode; tikv.Cluster.EnvFor hands out
// one per mode): Retry refuses a command of the other key space with a
// *kv.KeyModeError instead of routing its keys by the wrong regions.
// Package pipelinetest provides a static region layout, a scripted sender
// and an attempt recorder to test plans without a cluster.
//
// The package is public so that users can compose plans of their own from
// the same pieces tikvgo's clients use.
package pipeline
