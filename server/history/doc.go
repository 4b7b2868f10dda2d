// Package history keeps the orders each patient was signed, as recorded by
// RecordSigned, in Badger on local disk, and merges them with the history a
// CheckOrders request carries, for the history-based rules (courses,
// frequencies, duplicate charges, interactions with a running supply).
//
// # Key layout
//
//	p/ len16 patient / time64 / len16 item / len16 encounter / len16 line
//
// len16 is a big-endian uint16 byte count followed by the bytes; time64 is
// the entry's Unix seconds, big-endian with the sign bit flipped. Length
// prefixes keep arbitrary caller strings (which may contain '/') from
// making one key ambiguous, and make one patient's prefix never a prefix of
// another's ("P1" and "P12"). time64 right after the patient makes key
// order time order, so Lookup seeks straight to its lower bound, stops at
// its upper bound (the check time) and reads only what it returns: entries
// dated after a check never crowd out the ones it counts. The key is also
// the identity Record de-duplicates on: patient, time to the second, item,
// encounter, line id.
//
// # Value
//
// A version byte, then kind, quantity, days, the sub-second part of the time
// and the decision id in a fixed-width binary encoding of ~35 bytes; version
// 2 adds the hospital code and report id of an item done elsewhere or shared
// by the regional platform (see codec.go). It decodes without allocating, several times faster than
// JSON (BenchmarkValueCodec).
//
// # Retention
//
// An entry lives Retention (default 400 days) after its Time. Record
// ignores entries already past it and gives the others a Badger expiry at
// their end of life, so compaction removes them from disk without a sweep.
// Lookup also filters by retention itself: correctness never depends on
// when Badger gets round to expiring or compacting.
package history
