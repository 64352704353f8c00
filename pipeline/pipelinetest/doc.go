// Package pipelinetest is a test kit for plans built with package
// pipeline: it runs them without a cluster, against a scripted one.
//
//   - Cluster is the truth: regions split at given keys, stores, peers and
//     leaders, and the data (a RawKV). A test changes it while plans run
//     (Split, MoveLeader, SetPeerRole, SetStoreDown).
//   - Locator is a pdclient.Locator over the Cluster: a region cache in
//     miniature that loads what it misses (recording each Load, so a test
//     can assert cache misses) and takes TiKV's feedback as
//     pdclient.RegionCache does, store health included. PD is a
//     pdclient.PD over the Cluster, for tests that want the real region
//     cache instead.
//   - Sender is a transport.Sender playing TiKV: scripted answers first
//     (Script, Always: a response, a region error, a send error), then the
//     cluster, which fails sends to down stores, applies TiKV's region and
//     peer checks (EpochNotMatch, NotLeader, ...) against the truth, and
//     serves the command with a Handler (by default the RawKV).
//   - Recorder is a transport.Middleware that records every attempt and
//     its outcome.
//
// Wired together:
//
//	c := pipelinetest.NewCluster(pipelinetest.WithStores(3), pipelinetest.WithSplits("m"))
//	loc, tikv, rec := pipelinetest.NewLocator(c), pipelinetest.NewSender(c), pipelinetest.NewRecorder()
//	env := &pipeline.Env{Locator: loc, Sender: transport.Chain(tikv, rec.Middleware())}
//
// The kit does not import package pipeline (whose own tests use it), so
// it builds no Env; everything else a plan test needs is here. Nothing in
// it starts a goroutine, and all of it is safe for concurrent use.
package pipelinetest
