// Package raw is tikvgo's RawKV API: reads and writes of single keys,
// batches and ranges, without transactions or MVCC, covering client-go's
// rawkv.Client: Get, BatchGet, Put, BatchPut, BatchPutWithTTL, Delete,
// BatchDelete, DeleteRange, Scan, ReverseScan, CompareAndSwap, GetKeyTTL
// and Checksum.
//
// A Client runs on a shared cluster connection (tikv.Connect), compiles its
// plans once and is safe for concurrent use:
//
//	cluster, err := tikv.Connect(ctx, []string{"127.0.0.1:2379"})
//	if err != nil { ... }
//	defer cluster.Close()
//	client := raw.NewClient(cluster)
//	err = client.Put(ctx, []byte("k"), []byte("v"), raw.TTL(time.Hour))
//
// Client options (WithColumnFamily, WithAtomicForCAS) are fixed per Client;
// Client.With derives a client with other options that shares the
// compiled plans. Per-call options (ColumnFamily, TTL, KeyOnly,
// ReplicaRead, Priority, RequestSource) tune one call; a method rejects an
// option it does not take with kv.ErrInvalidArgument.
//
// Errors: a missing key is kv.ErrNotFound; bad input is
// kv.ErrInvalidArgument, detected before anything is sent; a failure TiKV
// reports in a response body is a *kv.ServerError; a CompareAndSwap whose
// outcome is unknown is kv.ErrUndetermined. The API version and keyspace
// (tikv.WithAPIVersion, tikv.WithKeyspace) are chosen on the cluster
// connection; keys and ranges here are always the caller's own.
package raw
