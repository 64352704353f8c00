// Package raw is tikvgo's RawKV API: reads and writes of single keys,
// batches and ranges, without transactions or MVCC.
//
// A Client runs on a shared cluster connection (tikv.Connect), compiles its
// plans once and is safe for concurrent use:
//
//	cluster, err := tikv.Connect(ctx, []string{"127.0.0.1:2379"})
//	if err != nil { ... }
//	defer cluster.Close()
//	client := raw.NewClient(cluster)
//	err = client.Put(ctx, []byte("k"), []byte("v"))
package raw
