// Package resident gives back the pages of the Badger stores' memory maps
// that the sidecar no longer needs, so that its resident set is its heap,
// its binary and its knowledge, not everything its logs ever wrote.
//
// Badger writes its value log and memtable logs through shared memory
// maps of the files. A page touched through such a map stays in the
// process's resident set until the kernel reclaims it under pressure: at
// the seeds' scale a sidecar that had answered 100,000 checks had 340 MB
// of decisions' value log resident, and the figure grows with every check
// (docs/PERFORMANCE.md). Operators read that as the sidecar's memory, and
// a memory-limited cgroup charges it to the sidecar.
//
// Release asks the kernel to reclaim those pages (madvise MADV_PAGEOUT)
// for every map of a file under the given directories. It never changes
// what a map reads or what reaches the file: a page written through the
// map and not yet written back stays in the page cache, dirty, and is
// written back as usual; a page read again is read from the page cache or
// the disk. MADV_PAGEOUT is only advice, which is why it is used and not
// MADV_DONTNEED: between reading /proc/self/maps and the madvise call the
// store may unmap a file (a table deleted by compaction) and the Go
// runtime map memory at the same address; reclaim advice there is
// harmless (without swap it does nothing), MADV_DONTNEED would zero it.
//
// The price of advice that frees the pages is that a clean page leaves
// the page cache too, so a file read again is read from the disk. That is
// right for logs, written once and read rarely; it is wrong for the
// knowledge store, whose tables every delta reads whole (measured: a
// delta then met about 20 major page faults and its checks' p99 went from
// 12 to 20 ms). So a store like that is added with Cached: its files'
// pages are dropped from the process's page tables with MADV_DONTNEED and
// stay in the page cache, where the next delta finds them (a minor fault,
// no disk read), and where the kernel can reclaim them, clean and mapped
// by no one, before anything else under memory pressure. MADV_DONTNEED is
// only safe on an address that is still the file's map, so the store
// holds its files while they are dropped (badgerdb.HoldTables: Badger
// cannot unmap a table an iterator holds) and the maps are listed after
// the hold began; private maps are never dropped (what was written to
// them exists nowhere else).
package resident
