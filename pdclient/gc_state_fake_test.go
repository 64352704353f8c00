package pdclient

import "github.com/tikv/pd/client/clients/gc"

// GetGCStatesClient: the region-cache fake has no GC states; nothing in
// these tests reads them.
func (p *fakePD) GetGCStatesClient(uint32) gc.GCStatesClient { return nil }
