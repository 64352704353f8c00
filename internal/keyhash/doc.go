// Package keyhash computes the hash TiKV's deadlock detector gives a key
// (FarmHash's Fingerprint64), so that the client can tell whether a
// deadlock report's deadlock_key_hash names one of the keys it was
// locking. mocktikv's lock manager reports the same function
// (mocktikv/internal/lockwait.KeyHash); keyhash_test.go pins it to
// reference values.
package keyhash
