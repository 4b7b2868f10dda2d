// Package decisionlog is the durable decision record (事后监管): every
// CheckOrders decision — its time, the sidecar that made it, the request as
// received and the response as sent — with the physicians' responses to its
// findings and the lines later signed, kept in Badger under
// <data>/decisions, queryable by physician, department, patient, verdict,
// rule type and whether it is still unanswered, and summarised per
// physician and department.
//
// # Writing: off the latency path, never silently lost
//
// Append puts a decision on a bounded queue (QueueSize, default 8192) and
// returns; it does not encode anything and, in Async mode, allocates
// nothing. One writer goroutine drains the queue in groups: a group closes
// CommitInterval (default 5 ms) after its first decision or at MaxBatch
// (default 256) decisions, is encoded (protobuf, S2-compressed, in the
// writer) and committed in one Badger transaction. Badger runs without SyncWrites: a
// commit lands in the memtable's log, a shared memory map (the page
// cache), which survives a kill -9 of the process at once, and reaches the
// disk when the log syncs it (sync.go has what Badger syncs and what it
// does not). So:
//
//   - A full queue makes Append wait for room (counted in Stats.Waited):
//     back-pressure on checks, never a silent drop. A decision is dropped
//     only if its check's context ends while it waits, or it comes after
//     Close (counted in Dropped).
//   - Async (default): a kill -9 loses what was queued or in the group
//     being committed: at most CommitInterval plus encoding one group,
//     however slow the disk's fsyncs (TestKillLosesAtMostTheCommitWindow
//     measured ≤ 7.4 ms with the 5 ms default at ~4,000 decisions/s on two
//     cores, ≤ 8.6 ms while another process kept the disk's fsyncs at tens
//     of milliseconds; TestDecisionLogKillUnderLoadAsync ≤ 10 ms by
//     decision id over 100 kills of a real sidecar, where SyncWrites had
//     let it reach 100–200 ms), plus any backlog if decisions arrive
//     faster than the writer commits them. Another goroutine syncs the
//     store every SyncInterval (default 1 s) if anything was committed
//     since: a power loss loses at most that as well.
//   - Sync: Append returns after the group commit that holds its decision
//     has been synced to disk, so no acknowledged decision is lost, to a
//     kill or a power loss; a check waits up to CommitInterval plus one
//     fsync (concurrent checks share the group and its fsync).
//   - Close commits everything queued before it returns: a graceful stop
//     loses no decision that was answered.
//   - A storage error never fails a check and never panics: the decisions
//     of a group that cannot be committed are counted in Failed, and
//     Status turns degraded (with the error) until a commit succeeds; so
//     does a failed sync (RecordResponses and LinkSigned then fail: what
//     they recorded may not survive a power loss). A store that cannot be
//     opened (a read-only or broken directory) or that the disk guard
//     (Options.Space) finds nearly full is degraded from the start: an
//     existing store is opened read-only, so queries still work, and the
//     writer tries to open it for writing again every 10 s. Each failed
//     commit is counted, not added to the last error: that stays the
//     opener's (or the guard's) message.
//
// RecordResponses and LinkSigned go through the same queue: they run after
// every decision appended before them is committed (so answering a decision
// still queued works), in their own transaction, synced before they return
// (with everything committed before them, the decision they answer
// included). Flush syncs too, unless nothing was committed since the last
// sync.
// The writer is the only goroutine that writes, so there are no write
// conflicts (Badger's conflict detection is off).
//
// # Key layout
//
//	d id16                      → decision: version byte + Decision proto
//	                              (decision_id, time, sidecar_id, request,
//	                              response; no responses or signed lines)
//	d id16 'r' seq16            → response revision: version byte +
//	                              RecordedResponse proto; seq 0, 1, … in the
//	                              order recorded
//	d id16 's'                  → signed lines: version byte + Decision proto
//	                              with only signed_line_ids
//	x kind len16 value id16     → secondary index entry, empty value
//
// id16 is the decision id's 16 bytes (a UUIDv7, see NewID): its first 48
// bits are Unix milliseconds, so key order under every prefix is time
// order, and a time range is a key range [floorID(from), floorID(to)) —
// millisecond resolution, by the id's timestamp. len16 is a big-endian
// uint16 byte count, so one value's keys are never a prefix of another's
// ("D1" and "D12"); values longer than 1,024 bytes are not indexed. seq16 is
// big-endian. Codes are indexed in canonical form (knowledge.CanonicalCode:
// padding trimmed, ASCII upper-cased), the form the check service and Query
// look them up in; the stored request keeps them as received. Index kinds:
//
//	'p' physician.code, canonical
//	'd' department, canonical: encounter.department_code, else (none)
//	    physician.department_code
//	'a' patient.id
//	'v' verdict (the enum number as one byte)
//	't' rule_type, once per distinct rule type among the findings
//	'u' unanswered (empty value): some finding is overridable and not INFO
//	    and has no response; deleted when the last such finding is answered
//
// Query walks one reverse iterator per filter and intersects them (a
// leapfrog join by seeking), so it reads only the index keys between
// matches and then the decisions it returns, each with point lookups
// (bloom filters) for the record, its responses and its signed lines.
// Without a filter it walks the decision keys themselves. Page tokens
// carry the last id returned and a hash of the filters.
//
// # Retention
//
// Every key of a decision — record, responses, signed lines, index
// entries — expires at the decision's Time + Retention (default 3 years;
// rounded up to Badger's one-second resolution). Badger hides expired keys
// from reads at once. Responses recorded later expire with their decision.
// Freeing their disk space needs a sweep (reclaim.go): decision keys are
// in time order, so the tables of old decisions sit in the last level
// where no compaction visits them again; every hour the reclaimer writes
// delete markers for the expired decision keys (compaction then drops
// them and counts their values discarded) and runs value-log GC, which
// deletes the value-log files of expired decisions
// (TestReclaimFreesExpiredDecisionsValueLog).
//
// # Storage
//
// A decision record (the request and the response: ~10 kB of protobuf for
// 10 lines and 10 findings) is compressed by the writer into one S2 block
// (~3.5 kB; value version 2, keys.go) and stored in the value log, which
// Badger writes once and never compacts. Index keys, responses and signed
// lines (values under 1 KiB) live in the LSM tree, which this store
// compresses with ZSTD in 64 KiB blocks. Before, decisions lived in the
// LSM tree too (250–350 bytes on disk for a 2.9 kB decision), but on the
// sidecar's one core every memtable flush and compaction recompressed
// them: on the synthetic release at the seeds' scale with GOMAXPROCS=1
// (BenchmarkScaleGRPCDecisionLog in server, issue 14), CheckOrders with
// the log on reached 34–45 % of its throughput with the log off at 50
// callers (46–53 % at 1), and 79–97 % (94–108 %) with the value log;
// Badger's CPU fell 3.7× (compactions 7×), and BenchmarkAppendThroughput
// on one core went from 4,300–8,900 to 10,300–17,000 decisions/s. The
// value log trades disk for that CPU: 1,550 instead of 250 bytes per
// 2.9 kB decision. Stores written before keep their
// version-1 values, which reads still decode.
package decisionlog
