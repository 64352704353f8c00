package tikv

// testHookBeforePDClose, when set (by tests of this package only), runs in
// Close just before the cluster closes the PD client it owns: the ported
// client-go check that the region caches, whose loads and background
// loops use PD, are closed by then (client-go's
// checkRegionCacheClosedBeforePDClose failpoint).
var testHookBeforePDClose func(*Cluster)
