package mvcc

// Properties are the MVCC statistics TiKV's debug service reports for a
// key range (src/server/debug.rs dump_write_cf_properties, whose numbers
// come from the write CF's MvccPropertiesCollector in
// components/engine_rocks/src/properties.rs), computed exactly over the
// in-memory column families instead of summed from SST file properties.
type Properties struct {
	// MinTS and MaxTS are the smallest and largest commit ts of the
	// range's write records (a rollback's is its start ts); both 0 when
	// there is none.
	MinTS, MaxTS uint64
	// NumRows counts the keys with at least one write record.
	NumRows uint64
	// NumPuts and NumDeletes count the Put and Delete write records.
	NumPuts, NumDeletes uint64
	// NumVersions counts every write record: Put, Delete, Lock and
	// Rollback, as the collector does.
	NumVersions uint64
	// MaxRowVersions is the largest number of write records of one key.
	MaxRowVersions uint64
	// DefaultEntries counts the default CF's records: the values too long
	// to sit in their write record.
	DefaultEntries uint64
}

// Properties returns the statistics of the write and default CF records
// inside r. Locks are not counted: TiKV's collector runs on the write CF
// only.
func (s *Store) Properties(r Range) Properties {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var p Properties
	lo, hi := s.spanLocked(r)
	for _, e := range s.sorted[lo:hi] {
		p.DefaultEntries += uint64(len(e.values))
		if len(e.writes) == 0 {
			continue
		}
		p.NumRows++
		n := uint64(len(e.writes))
		p.NumVersions += n
		p.MaxRowVersions = max(p.MaxRowVersions, n)
		for _, w := range e.writes {
			if p.MinTS == 0 || w.CommitTS < p.MinTS {
				p.MinTS = w.CommitTS
			}
			p.MaxTS = max(p.MaxTS, w.CommitTS)
			switch w.Type {
			case WritePut:
				p.NumPuts++
			case WriteDelete:
				p.NumDeletes++
			}
		}
	}
	return p
}
