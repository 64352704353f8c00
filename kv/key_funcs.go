package kv

import "bytes"

// The functions below are client-go's kv key helpers (kv/key.go), for
// callers that hold keys as plain []byte, as client-go's API does; they
// are the methods of Key under client-go's names.

// NextKey returns the smallest key greater than k: a copy of k followed by
// a zero byte (Key.Next).
func NextKey(k []byte) []byte { return Key(k).Next() }

// PrefixNextKey returns the smallest key greater than every key that has
// k as a prefix: the first range end that leaves them all in
// [k, PrefixNextKey(k)). For a k of 0xff bytes only (or empty) there is
// none and it returns nil, the end of the key space, as client-go returns
// an empty slice there (Key.PrefixNext).
//
// It drops the trailing bytes that wrapped around, where client-go keeps
// them as zeros: for {0x01, 0xff} it returns {0x02} and client-go
// {0x02, 0x00}, a bound that would also take in the key {0x02}, which does
// not have the prefix.
func PrefixNextKey(k []byte) []byte { return Key(k).PrefixNext() }

// CmpKey orders keys bytewise: -1 when k sorts before other, 0 when they
// are equal, +1 after (bytes.Compare).
func CmpKey(k, other []byte) int { return bytes.Compare(k, other) }
