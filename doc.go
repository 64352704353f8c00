// Package tikv is the entry point of tikvgo, a Go client for TiKV.
//
// Connect opens a Cluster: the shared, long-lived connection to one TiKV
// cluster (PD, the region cache, the timestamp oracle, the gRPC pool and the
// middleware chain). Clients for each API run on it:
//
//	cluster, err := tikv.Connect(ctx, []string{"127.0.0.1:2379"})
//	if err != nil {
//		return err
//	}
//	defer cluster.Close()
//	rc := raw.NewClient(cluster)
//
// A request flows through two layers. The plan layer (package pipeline)
// decides which regions it goes to, what to retry and how to merge the
// answers; each physical attempt then flows through a middleware chain
// (package transport, package middleware) to the store. See
// docs/ARCHITECTURE.md in the repository for the design.
package tikv
