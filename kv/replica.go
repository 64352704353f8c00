package kv

// ReplicaReadType chooses which replicas of a region serve a read.
type ReplicaReadType int

const (
	// ReplicaReadLeader reads from the leader only (the default).
	ReplicaReadLeader ReplicaReadType = iota
	// ReplicaReadFollower reads from followers (with a read index from the
	// leader, so reads stay linearizable); the leader serves only when no
	// follower can.
	ReplicaReadFollower
	// ReplicaReadMixed reads from the leader or any follower, preferring
	// label-matching and healthy replicas.
	ReplicaReadMixed
	// ReplicaReadLearner reads from learners, falling back to other peers.
	ReplicaReadLearner
	// ReplicaReadPreferLeader reads from the leader unless its store is
	// slow, then from a healthy follower.
	ReplicaReadPreferLeader
)

// String returns the mode's name as client-go spells it.
func (t ReplicaReadType) String() string {
	switch t {
	case ReplicaReadLeader:
		return "leader"
	case ReplicaReadFollower:
		return "follower"
	case ReplicaReadMixed:
		return "mixed"
	case ReplicaReadLearner:
		return "learner"
	case ReplicaReadPreferLeader:
		return "prefer-leader"
	default:
		return "unknown"
	}
}

// IsFollowerRead reports whether reads of this type may be served by a
// peer other than the leader.
func (t ReplicaReadType) IsFollowerRead() bool { return t != ReplicaReadLeader }
