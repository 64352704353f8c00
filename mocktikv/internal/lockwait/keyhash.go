package lockwait

import "github.com/tikvgo/tikv/internal/keyhash"

// KeyHash is the hash TiKV gives a key in the deadlock detector (TiKV's
// Key::gen_hash: FarmHash's 64-bit fingerprint), which the mock reports as
// deadlock_key_hash. The client side compares it with its own keys, so
// both use the one implementation in internal/keyhash, pinned there to
// reference values.
func KeyHash(key []byte) uint64 { return keyhash.Fingerprint64(key) }
