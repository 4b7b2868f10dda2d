package badgerdb

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/rxguard/rxguard/internal/diskspace"
	"github.com/rxguard/rxguard/internal/diskspace/disktest"
)

// copySparse copies the files of a live store the way a crash leaves them:
// what was written, and holes where nothing was (Badger's logs are
// extended first and filled through their memory maps).
func copySparse(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		in, err := os.Open(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out, err := os.Create(filepath.Join(dst, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		buf, zero := make([]byte, 4096), make([]byte, 4096)
		var off int64
		for {
			n, err := io.ReadFull(in, buf)
			if n > 0 && !bytes.Equal(buf[:n], zero[:n]) {
				if _, werr := out.WriteAt(buf[:n], off); werr != nil {
					t.Fatal(werr)
				}
			}
			off += int64(n)
			if err != nil {
				break
			}
		}
		if err := out.Truncate(off); err != nil {
			t.Fatal(err)
		}
		in.Close()
		out.Close()
	}
}

// A store a crash left behind opens read-only on a full tmpfs, where even
// reading a hole of a file is SIGBUS: its memory-table log ends in one.
// When there is room it opens read-write with everything in it.
func TestReadOnlyOpenOfACrashedStoreOnAFullDisk(t *testing.T) {
	mnt := disktest.Mount(t, 64<<20)
	live := t.TempDir()
	db, err := Open(Config{Dir: live, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	writeKeys(t, db, 200) // synced: in the memtable log, not yet in a table
	crashed := filepath.Join(mnt, "store")
	copySparse(t, live, crashed)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	mems, _ := filepath.Glob(filepath.Join(crashed, "*.mem"))
	if len(mems) == 0 {
		t.Fatal("the crashed copy has no memtable log")
	}

	filler := disktest.Fill(t, mnt)
	g := diskspace.New("test", crashed, diskspace.Options{MinFree: 1 << 20, Logger: quiet()})
	db, mode, err := OpenGuarded(Config{Dir: crashed, Logger: quiet()}, g)
	if err != nil || mode != diskspace.ModeReadOnly {
		t.Fatalf("OpenGuarded of a crashed store on a full disk: %v %v", err, mode)
	}
	readKeys(t, db, 200)
	for _, m := range mems {
		if info, err := os.Stat(m); err == nil && info.Size() >= 2<<20 {
			t.Errorf("%s still %d bytes: its unwritten tail was not cut", m, info.Size())
		}
	}
	if err := Close(db, g, quiet()); err != nil {
		t.Fatal(err)
	}

	disktest.Free(t, filler)
	db, mode, err = OpenGuarded(Config{Dir: crashed, Logger: quiet()}, g)
	if err != nil || mode != diskspace.ModeReadWrite {
		t.Fatalf("OpenGuarded with room: %v %v", err, mode)
	}
	readKeys(t, db, 200)
	writeKeys(t, db, 300)
	if err := Close(db, g, quiet()); err != nil {
		t.Fatal(err)
	}
}

// Badger's Close flushes the memtable into a new table; on a full disk
// that is SIGBUS. Close leaves such a store unclosed, as a kill would.
func TestCloseOnAFullDiskDoesNotFlush(t *testing.T) {
	mnt := disktest.Mount(t, 64<<20)
	dir := filepath.Join(mnt, "store")
	g := diskspace.New("test", dir, diskspace.Options{MinFree: 1 << 20, Logger: quiet()})
	db, mode, err := OpenGuarded(Config{Dir: dir, Logger: quiet()}, g)
	if err != nil || mode != diskspace.ModeReadWrite {
		t.Fatalf("OpenGuarded with room: %v %v", err, mode)
	}
	writeKeys(t, db, 200)
	disktest.Fill(t, mnt)
	if err := Close(db, g, quiet()); err != nil {
		t.Fatal(err)
	}
	// Still alive: the test process would have died of SIGBUS here. The
	// store stays open (and locked) until the process exits.
}
