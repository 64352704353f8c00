// Package pdclient is tikvgo's access to PD, the cluster's placement driver:
// timestamps (Oracle), region routing (RegionCache, behind the Locator
// interface the pipeline uses) and store metadata.
//
// The PD interface is the subset of github.com/tikv/pd/client.Client that
// tikvgo calls, so the real client satisfies it and mocktikv can stand in
// for it in-process.
package pdclient
