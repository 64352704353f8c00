// Package keyhash computes the hash TiKV's deadlock detector gives a key
// (FarmHash's Fingerprint64), so that the client can tell whether a
// deadlock report's deadlock_key_hash names one of the keys it was
// locking. It is the same function as mocktikv's lock manager uses
// (mocktikv/internal/lockwait/keyhash.go, which keeps its own copy), both
// pinned to the same reference values.
package keyhash
