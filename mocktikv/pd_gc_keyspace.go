package mocktikv

import "slices"

// Keyspace-level GC. A keyspace PD created with the config
// gc_management_type=keyspace_level runs GC on its own: PD keeps a txn
// safe point, a GC safe point and GC barriers for it alone, and its GC
// worker advances them; every other keyspace follows the unified GC of the
// null keyspace (pkg/gc/gc_state_manager.go redirectKeyspace). Global GC
// barriers hold back every keyspace's txn safe point.

// Keyspace config PD reads the GC mode from (pkg/keyspace): a keyspace
// whose gc_management_type is keyspace_level has GC states of its own.
const (
	// GCManagementTypeKey is the keyspace config key of the GC mode.
	GCManagementTypeKey = "gc_management_type"
	// KeyspaceLevelGC is the GC mode of a keyspace with GC states of its
	// own.
	KeyspaceLevelGC = "keyspace_level"
	// UnifiedGC is the GC mode of a keyspace that follows the null
	// keyspace's GC states (also what no gc_management_type means).
	UnifiedGC = "unified"
)

// WithKeyspaceLevelGC creates a keyspace named name, as WithKeyspace does,
// with keyspace-level GC (config gc_management_type=keyspace_level): its
// txn safe point, GC safe point and GC barriers are its own, start at 0,
// and only its own GC (gc.Run in the keyspace, or
// GetGCInternalController(id)) advances them; advancing the unified ones
// does not move them, nor they the unified ones. Keyspaces created with
// WithKeyspace have no gc_management_type (classic PD's default: unified).
//
// The mock's TiKV side still collects versions by the unified GC safe
// point only.
func WithKeyspaceLevelGC(name string) Option {
	return func(c *config) {
		if c.keyspaceLevelGC == nil {
			c.keyspaceLevelGC = map[string]bool{}
		}
		c.keyspaceLevelGC[name] = true
		if !slices.Contains(c.keyspaces, name) {
			c.keyspaces = append(c.keyspaces, name)
		}
	}
}

// setUpKeyspaceLevelGC writes the GC mode into the config of the
// keyspaces with keyspace-level GC and gives them GC states of their own.
// DEFAULT is never one (PD's bootstrap creates it with unified GC).
func (c *Cluster) setUpKeyspaceLevelGC(levelGC map[string]bool) {
	for _, m := range c.keyspaces.metas {
		if m.GetId() != DefaultKeyspaceID && levelGC[m.Name] {
			m.Config[GCManagementTypeKey] = KeyspaceLevelGC
			c.gc.addKeyspace(m.GetId(), m.Name)
		}
	}
}

// KeyspaceTxnSafePoint returns the txn safe point keyspace id is under:
// its own with keyspace-level GC, else the unified one; ok is false for an
// unknown keyspace.
func (c *Cluster) KeyspaceTxnSafePoint(id uint32) (ts uint64, ok bool) {
	g, err := c.gcStatesFor(id, true)
	if err != nil {
		return 0, false
	}
	return g.snapshot().txnSafePoint, true
}
