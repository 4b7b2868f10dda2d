package badgerdb

import (
	"path/filepath"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/table"
)

// HoldTables calls fn with the paths of db's table files (dir/NNNNNN.sst)
// while none of them can be unmapped or deleted: what fn does to their
// memory maps cannot meet an address Badger has given back meanwhile.
//
// Badger unmaps a table when its last reference goes (a compaction that
// replaced it, DropAll, Close), and an iterator holds a reference on every
// table it was created over until it is closed (table.NewIterator,
// NewConcatIterator: "we'll hold the reference of the tables, till the
// lifecycle of the iterator"). So HoldTables opens one iterator over the
// whole store (it reads nothing) and passes the tables listed both before
// and after the iterator was created: a table in both lists was in the
// tree throughout, hence is one the iterator holds; a table created since
// is left out. The caller keeps db open for the call (it must not be
// closed under an iterator).
func HoldTables(db *badger.DB, dir string, fn func(paths []string)) {
	before := map[uint64]bool{}
	for _, t := range db.Tables() {
		before[t.ID] = true
	}
	txn := db.NewTransaction(false)
	defer txn.Discard()
	it := txn.NewIterator(badger.IteratorOptions{}) // no prefix, no SinceTs: every table
	defer it.Close()
	var paths []string
	for _, t := range db.Tables() {
		if before[t.ID] {
			paths = append(paths, filepath.Join(dir, table.IDToFilename(t.ID)))
		}
	}
	fn(paths)
}
