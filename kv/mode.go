package kv

// KeyMode says which of TiKV's key spaces a client works in. RawKV and
// transactional keys are stored differently (transactional keys
// memcomparable-encoded, and under API v2 with a different prefix), so each
// mode has its own routing.
type KeyMode int

const (
	// ModeRaw is RawKV's key space.
	ModeRaw KeyMode = iota
	// ModeTxn is the transactional (Percolator) key space.
	ModeTxn
)

// String returns "raw" or "txn".
func (m KeyMode) String() string {
	if m == ModeTxn {
		return "txn"
	}
	return "raw"
}
