// Package kv is the shared vocabulary of tikvgo: keys, key ranges, key-value
// pairs, and the typed error model every other package reports through.
//
// Everything a caller may branch on is a sentinel (compare with errors.Is) or
// a typed error (extract with errors.As). No error in tikvgo is meant to be
// recognised by its message.
package kv
