// Package store keeps knowledge releases (see package knowledge) in Badger
// on local disk, switches the active release atomically, and recovers from a
// crash at any point with the previously active release intact.
//
// # Key layout
//
// All keys are byte strings; <version> never contains '/' or control bytes,
// <class> never contains 0x00, <key> is arbitrary.
//
//	rel/<version>/writing            marker: the release is incomplete (being written or removed)
//	rel/<version>/manifest           knowledge.Manifest as JSON; its presence marks the release complete
//	rel/<version>/base               an overlay's base: "<base version>\x00<base content_sha256>"
//	rec/<version>/<class>\x00<key>   record value (the JSON of the typed record)
//	ovl/<version>/<class>\x00<key>   an overlay's entry: 's' + record value, or 'd' (removed)
//	meta/active                      version of the active release
//	meta/previous                    version that was active before it (Open's fallback)
//
// Records are kept out of rel/ so that listing releases reads two keys per
// release, not its records, nor the tombstones a removed release leaves
// behind until compaction drops them (Badger iterators step over each one).
//
// The 0x00 separator makes Badger's byte order of record keys equal the
// (class, key) order the content hash is defined over, so a prefix scan
// yields records already sorted and can be hashed as it streams.
//
// # Write protocol
//
// A release of 10^4–10^5 records does not fit one Badger transaction (a
// transaction is capped at 15% of the memtable), so it is written in several:
//
//  1. rel/<v>/writing, in its own transaction;
//  2. the records, in as many transactions as they need (a WriteBatch);
//  3. read back and prove them against the manifest;
//  4. rel/<v>/manifest, written and the marker deleted in one transaction.
//
// Badger commits transactions in order, so a manifest that survived a crash
// implies every record before it did. A release without a manifest is junk:
// Open deletes it. Removal runs the protocol backwards (manifest deleted and
// marker set in one transaction, then records, then marker), so a crash in
// the middle of a removal also leaves an incomplete release that Open deletes.
//
// Activation writes meta/active and meta/previous in one transaction, after
// verifying the target. Either the switch committed or it did not; there is
// no state in between.
//
// # Open
//
// Open first deletes 0-byte Badger log files a kill can leave behind (Badger
// issue #2207, which otherwise makes badger.Open fail), then incomplete
// releases. It verifies the active release (SHA-256 over all records). If
// that is corrupt and meta/previous verifies, the store falls back to it,
// logs at error level and deletes the corrupt release so it can be fetched
// again; otherwise Open fails with instructions for the operator. Last, it
// removes releases an interrupted garbage collection left behind.
//
// Open's proof of the active release reads every record anyway, so it keeps
// what it read: the first Records of that release hands over exactly the
// records Open hashed and proved, instead of reading and hashing the
// release a second time (a sidecar's start opens the store and then reads
// the active release: one pass instead of two, ≈ 0.36 s of 767,000 records).
// What Records returns is still proven against the manifest stored when it
// is called: the hand-over requires the same manifest (its Badger commit
// version and content hash), happens once, and any PutRelease, Activate,
// DeleteRelease, reopen or Close — or two minutes without the Records call
// — drops the kept records, so later reads, and a release removed and put
// again, are proven from disk as before. A record damaged on disk after
// Open's proof is therefore found by the next Verify or Records, not by the
// first one, whose records are the proven copy in memory.
//
// # Overlays
//
// ApplyDelta stores a release given as changes to a release in the store
// (a delta) as an overlay: under ovl/ only the records it adds or changes
// and a tombstone for each it removes, and in rel/<v>/base the full
// release they apply to, with that release's content hash (so a base
// removed and put again with other content cannot change the overlay's
// meaning). The manifest is the bureau's, unchanged. Every read of an
// overlay — Records, Verify, Activate's proof, Open's — merges the base's
// records with the entries in (class, key) order as it streams and proves
// the merged stream against the manifest exactly as for a full release; a
// damaged byte in either is ErrCorrupt.
//
// Chains are one level deep: an overlay's base is always a full release.
// A delta on an overlay is stored as an overlay on the same full release
// with the combined difference (the base's entries, with every key the
// delta changes set to its new value or removed). When that difference
// exceeds a quarter of the release's records, the release is written
// whole instead (it then becomes the base of the deltas after it).
//
// The base is read once per delta and neither release is held in memory:
// ApplyDelta streams the base's records from Badger (merged with its own
// entries if it is an overlay), applies the changes as they pass and
// hashes the result against the manifest before anything is written. The
// base is not hashed on its own — a damaged record the delta keeps makes
// the result miss the manifest, and only then is the base proven, to tell
// a damaged base (ErrCorrupt) from a delta that does not make its
// manifest (ErrInvalidRelease). The overlay is then written with the same
// protocol as a full release: marker, entries, the entries read back and
// compared with what was written, then manifest and base reference with
// the marker's deletion in one transaction. What is stored is therefore
// the base just read merged with the entries proven, and the Activate that
// follows in the same process does not prove that overlay a second time
// (the proof is remembered by the manifest's commit version and used
// once); every other Activate proves.
//
// What that does not see is a damaged base record the delta replaces (it
// does not reach the new release) or a base record damaged on disk after
// the read: the next Verify or Records of the base, or of an overlay that
// keeps the record, finds it, and at the latest the next Open's proof. A
// full release stays the base while any overlay on it is kept: garbage
// collection keeps it beside the KeepReleases (an overlay costs its base),
// removes overlays before bases, and DeleteRelease refuses to remove a
// base an overlay needs. Because the active overlay and its base — often
// meta/previous — share the base's records, a damaged base record makes
// both unusable: Open then refuses with the operator's instructions, as
// when the active and previous releases are both damaged (a damaged
// overlay entry falls back to the previous release as before).
//
// # Retention
//
// After each activation, complete releases are removed unless they are the
// active one, meta/previous, stored after the active one (put, waiting to be
// activated), or among the most recently stored others while fewer than
// KeepReleases are kept besides the active one (meta/previous counts), or
// the base of a release kept.
package store
