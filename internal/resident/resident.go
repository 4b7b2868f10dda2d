package resident

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"
)

// ErrUnsupported: this platform cannot release mapped pages (Release does
// nothing there).
var ErrUnsupported = errors.New("releasing mapped file pages is not supported on this platform")

// chunk is the most one madvise call is asked to reclaim, so that one
// call does not hold a one-core sidecar's processor for long: reclaiming
// 4 MiB of clean pages takes about a millisecond.
const chunk = 4 << 20

// Dirs is a set of directories whose files' mapped pages Release gives
// back. Its methods may be called concurrently.
type Dirs struct {
	dirs   []string // absolute, as given (resolved)
	cached []cachedStore

	releases atomic.Uint64
	advised  atomic.Uint64
	dropped  atomic.Uint64
	lastErr  atomic.Pointer[string]
}

// Hold calls fn with the paths of a store's files that the store cannot
// unmap until fn returns (badgerdb.HoldTables), or fails without calling
// it (the store is closed).
type Hold func(fn func(paths []string)) error

// cachedStore is a store added with Cached.
type cachedStore struct {
	hold Hold
	busy func() bool
}

// Cached adds a store whose files' pages each Release drops from this
// process's maps while keeping them in the page cache (package doc): for
// files read again, whole, now and then. While busy (if not nil) reports
// that the store is reading them, Run drops them ten times as often: a
// pass over a whole release would otherwise bring them all back into the
// resident set before the next release. Call it before the first Release.
func (d *Dirs) Cached(hold Hold, busy func() bool) *Dirs {
	d.cached = append(d.cached, cachedStore{hold: hold, busy: busy})
	return d
}

// NewDirs returns the set of dirs. A directory need not exist yet (a
// store not created on a full disk): each Release resolves them again, so
// one created later, or moved behind a symlink, is released from then on.
func NewDirs(dirs ...string) *Dirs {
	d := &Dirs{}
	for _, dir := range dirs {
		d.dirs = append(d.dirs, absolute(dir))
	}
	return d
}

// absolute is dir made absolute and clean (as given if that fails).
func absolute(dir string) string {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	return filepath.Clean(dir)
}

// resolve is dir with its symlinks resolved, as /proc/self/maps names the
// files in it (as given if it does not exist: nothing of it is mapped).
func resolve(dir string) string {
	if r, err := filepath.EvalSymlinks(dir); err == nil {
		return r
	}
	return dir
}

// resolved returns the directories as /proc/self/maps names the files in
// them: symlinks resolved (a directory that does not exist stays as
// given; nothing of it is mapped).
func (d *Dirs) resolved() []string {
	out := make([]string, len(d.dirs))
	for i, dir := range d.dirs {
		out[i] = resolve(dir)
	}
	return out
}

// Released is what one Release did.
type Released struct {
	Mappings int    // maps of files under the directories advised
	Bytes    uint64 // their size (address space, resident or not)
	// Dropped is the size of the cached stores' maps whose pages were
	// dropped from the process (Cached).
	Dropped uint64
}

// Release asks the kernel to reclaim the pages of every map of a file
// under the directories that this process has (package doc). It reads
// /proc/self/maps once; a map that is gone by the time it is advised is
// skipped.
func (d *Dirs) Release() (Released, error) {
	r, err := d.release()
	d.releases.Add(1)
	d.advised.Add(r.Bytes)
	if err != nil {
		s := err.Error()
		d.lastErr.Store(&s)
	} else {
		d.lastErr.Store(nil)
	}
	return r, err
}

func (d *Dirs) release() (Released, error) {
	var r Released
	if !supported {
		return r, ErrUnsupported
	}
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return r, fmt.Errorf("resident: %w", err)
	}
	dirs := d.resolved()
	for _, m := range parseMaps(b) {
		if !under(m.path, dirs) {
			continue
		}
		advised := false
		for at := m.start; at < m.end; at += chunk {
			n := min(uint64(chunk), m.end-at)
			// ENOMEM: the map is gone (unmapped since the listing). Any
			// other error is advice not taken; neither changes data.
			if pageout(at, n) == nil {
				advised = true
			}
		}
		if advised {
			r.Mappings++
			r.Bytes += m.end - m.start
		}
	}
	n, err := d.dropCached(false)
	r.Dropped = n
	return r, err
}

// dropCached drops the pages of the cached stores' files (all of them, or
// only those of the stores that are busy) and returns (and counts) the
// size of the maps advised.
func (d *Dirs) dropCached(onlyBusy bool) (total uint64, err error) {
	defer func() { d.dropped.Add(total) }()
	for _, c := range d.cached {
		if onlyBusy && (c.busy == nil || !c.busy()) {
			continue
		}
		var dropErr error
		err := c.hold(func(paths []string) {
			var n uint64
			n, dropErr = dropHeld(paths)
			total += n
		})
		if err = errors.Join(err, dropErr); err != nil {
			return total, fmt.Errorf("resident: %w", err)
		}
	}
	return total, nil
}

// dropHeld drops the pages of this process's shared maps of the files
// paths from its page tables (MADV_DONTNEED): they stay in the page cache
// and a read faults them back in without reading the disk. The files are
// held (Hold), so their maps cannot be unmapped meanwhile, and the listing
// of the maps is read after the hold began, so every address advised is
// still the file's. It returns the size of the maps advised.
func dropHeld(paths []string) (uint64, error) {
	if len(paths) == 0 {
		return 0, nil
	}
	held := make(map[string]bool, len(paths))
	dirs := map[string]string{} // a directory as given → as /proc names it
	for _, p := range paths {
		dir, base := filepath.Split(p)
		r, ok := dirs[dir]
		if !ok {
			r = resolve(absolute(dir))
			dirs[dir] = r
		}
		held[filepath.Join(r, base)] = true
	}
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	var dropped uint64
	for _, m := range parseMaps(b) {
		// A held file is neither unmapped nor deleted during the hold: a
		// deleted file's map by the same name is someone else's.
		if !m.shared || m.deleted || !held[m.path] {
			continue
		}
		for at := m.start; at < m.end; at += chunk {
			if err := dontneed(at, min(uint64(chunk), m.end-at)); err != nil {
				return dropped, fmt.Errorf("drop the pages of %s from the process: %w", m.path, err)
			}
		}
		dropped += m.end - m.start
	}
	return dropped, nil
}

// Resident sums the resident pages of this process's maps of files under
// the directories (FileRSS). Reading smaps walks every page table of the
// process, milliseconds for a sidecar: for tests and diagnostics, not for
// a status page polled while checks are served.
func (d *Dirs) Resident() (uint64, error) {
	files, err := FileRSS(0)
	if err != nil {
		return 0, err
	}
	dirs := d.resolved()
	var total uint64
	for path, n := range files {
		if under(path, dirs) {
			total += n
		}
	}
	return total, nil
}

// Usage is a process's resident set, in bytes: all of it (VmRSS),
// anonymous memory (RssAnon: the heap) and mapped files' pages (RssFile:
// the binary and the stores' files).
type Usage struct {
	Total, Anon, File uint64
}

// UsageOf reads the resident set of process pid (0: this one) from
// /proc/<pid>/status.
func UsageOf(pid int) (Usage, error) {
	if !supported {
		return Usage{}, ErrUnsupported
	}
	b, err := os.ReadFile(procFile(pid, "status"))
	if err != nil {
		return Usage{}, fmt.Errorf("resident: %w", err)
	}
	return parseStatus(b)
}

// FileRSS returns the resident bytes of each file process pid (0: this
// one) maps, by the path /proc/<pid>/smaps names it by (without "
// (deleted)").
func FileRSS(pid int) (map[string]uint64, error) {
	if !supported {
		return nil, ErrUnsupported
	}
	b, err := os.ReadFile(procFile(pid, "smaps"))
	if err != nil {
		return nil, fmt.Errorf("resident: %w", err)
	}
	return fileRSS(b)
}

func procFile(pid int, name string) string {
	if pid == 0 {
		return "/proc/self/" + name
	}
	return "/proc/" + strconv.Itoa(pid) + "/" + name
}

// Status is the releaser's state for the sidecar's /status ("memory").
type Status struct {
	Supported bool `json:"supported"`
	// Releases counts Release calls; AdvisedBytes the size of the maps
	// they advised, summed.
	Releases     uint64 `json:"releases"`
	AdvisedBytes uint64 `json:"advised_bytes"`
	// DroppedBytes is the size of the knowledge store's table maps whose
	// pages were dropped from the process and left in the page cache,
	// summed over the releases.
	DroppedBytes uint64 `json:"dropped_bytes"`
	LastError    string `json:"last_error,omitempty"`
	// RSSAnonBytes and RSSFileBytes are the process's resident set at the
	// call (/proc/self/status RssAnon, RssFile): the heap, and the mapped
	// pages of files including the binary's.
	RSSAnonBytes uint64 `json:"rss_anon_bytes"`
	RSSFileBytes uint64 `json:"rss_file_bytes"`
}

// Status reports the releaser and the process's resident set.
func (d *Dirs) Status() Status {
	s := Status{Supported: supported, Releases: d.releases.Load(), AdvisedBytes: d.advised.Load(), DroppedBytes: d.dropped.Load()}
	if e := d.lastErr.Load(); e != nil {
		s.LastError = *e
	}
	if u, err := UsageOf(0); err == nil {
		s.RSSAnonBytes, s.RSSFileBytes = u.Anon, u.File
	}
	return s
}

// Run releases every interval until ctx ends. An error is logged once
// until a release succeeds again.
func (d *Dirs) Run(ctx context.Context, every time.Duration, log *slog.Logger) {
	if !supported {
		log.Info("mapped store pages are not released on this platform: the resident set includes the stores' files")
		return
	}
	// Ticks ten times per interval: every tenth releases everything, the
	// others drop the busy cached stores' pages (Cached).
	t := time.NewTicker(max(every/10, time.Millisecond))
	defer t.Stop()
	failing := false
	for tick := 0; ; tick++ {
		var err error
		if tick%10 == 0 {
			_, err = d.Release()
		} else {
			_, err = d.dropCached(true)
		}
		if err != nil && !failing {
			log.Warn("releasing the stores' mapped pages failed; the resident set will include the files the stores read and write", "err", err)
			failing = true
		} else if err == nil && tick%10 == 0 {
			failing = false
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
