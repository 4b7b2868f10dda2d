// Package diskspace keeps rxguard's Badger stores from writing into a full
// filesystem.
//
// Badger writes its memtable logs and tables through memory maps of files
// it first extends with ftruncate. On a full filesystem the extension
// succeeds (the file is sparse) and the first store into an unbacked page
// raises SIGBUS, which kills the process: no error reaches rxguard. The
// only defence is not to write when the space might not be there. A Guard
// watches the free space of one store's directory and admits writes only
// while it is at least a threshold that covers everything Badger may write
// through its maps (see badgerdb.WriteReserve).
//
// The state a write consults is one atomic word; a background loop (Run)
// refreshes it, and Allow re-measures before admitting a write, so a disk
// filled by another process between two polls is noticed before rxguard
// writes.
package diskspace

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// ErrNoSpace matches every refusal (errors.Is): the store did not write.
var ErrNoSpace = errors.New("disk nearly full")

// errUnsupported: free space cannot be measured on this platform; writes
// are then admitted as before.
var errUnsupported = errors.New("free space cannot be measured on this platform")

// NoSpaceError is a refused write.
type NoSpaceError struct {
	Store string // "knowledge", "history"
	Dir   string
	Free  uint64 // bytes available at the last measurement
	Min   uint64 // the threshold (min_free_bytes)
	Need  uint64 // bytes the refused write needed besides Min (0: none estimated)
	// Mode is how the store is open. Anything but ModeReadWrite means the
	// store was opened while the disk was nearly full and is reopened for
	// writing once the free space is back.
	Mode Mode
}

func (e *NoSpaceError) Error() string {
	if e.Mode != ModeReadWrite && e.Free >= e.Min+e.Need {
		return fmt.Sprintf("disk nearly full: the %s store in %s was opened %s while the disk was nearly full and is reopened for writing within seconds (%s free now)",
			e.Store, e.Dir, e.Mode, Bytes(e.Free))
	}
	need := ""
	if e.Need > 0 {
		need = fmt.Sprintf(" plus %s for this write", Bytes(e.Need))
	}
	return fmt.Sprintf("disk nearly full: free space on %s is %s, below the %s rxguard keeps free (min_free_bytes)%s",
		e.Dir, Bytes(e.Free), Bytes(e.Min), need)
}

func (e *NoSpaceError) Is(target error) bool { return target == ErrNoSpace }

// Mode is how a store's database is open.
type Mode int32

const (
	// ModeReadWrite: open for writing (the normal case).
	ModeReadWrite Mode = iota
	// ModeReadOnly: the store existed but the disk was nearly full at open,
	// so Badger was opened read-only: it creates and writes nothing.
	ModeReadOnly
	// ModeNotCreated: there was no store on disk and no room to create
	// one; an empty in-memory database stands in until there is.
	ModeNotCreated
)

func (m Mode) String() string {
	switch m {
	case ModeReadWrite:
		return "read-write"
	case ModeReadOnly:
		return "read-only"
	case ModeNotCreated:
		return "not created"
	}
	return fmt.Sprintf("mode(%d)", int32(m))
}

// Options configures a Guard.
type Options struct {
	// MinFree is the threshold in bytes: writes are refused while less is
	// available to rxguard on the directory's filesystem.
	MinFree uint64
	// Interval between background measurements; 0 means DefaultInterval.
	Interval time.Duration
	Logger   *slog.Logger
	// Statfs returns the bytes available on the filesystem holding dir;
	// nil measures with statfs(2). For tests.
	Statfs func(dir string) (uint64, error)
}

// DefaultInterval is how often Run measures.
const DefaultInterval = time.Second

// state bits; writes go ahead only while the word is 0.
const (
	stateLow     uint32 = 1 << iota // free < MinFree, or free unknown
	stateNotOpen                    // the store is not open for writing
)

// Guard watches the free space of one store's directory. A nil *Guard
// admits every write and reports nothing. Methods are safe for concurrent
// use.
type Guard struct {
	store, dir string
	min        uint64
	interval   time.Duration
	log        *slog.Logger
	statfs     func(string) (uint64, error)

	state    atomic.Uint32
	free     atomic.Uint64
	mode     atomic.Int32
	refused  atomic.Uint64
	checked  atomic.Int64 // Unix nanoseconds of the last measurement
	lowSince atomic.Int64 // Unix nanoseconds; 0 while there is room
	checkErr atomic.Pointer[string]
	// unsupported: free space cannot be measured here, so writes are
	// admitted as they were before the guard (free stays 0).
	unsupported atomic.Bool

	mu    sync.Mutex // serialises measurements' transitions and hooks
	hooks []func()
}

// New returns a guard for the store named store (for messages and metrics)
// in dir. It has not measured yet: call Check (the stores' Open does).
func New(store, dir string, opts Options) *Guard {
	g := &Guard{store: store, dir: dir, min: opts.MinFree, interval: opts.Interval, log: opts.Logger, statfs: opts.Statfs}
	if g.interval <= 0 {
		g.interval = DefaultInterval
	}
	if g.log == nil {
		g.log = slog.Default()
	}
	g.log = g.log.With("component", "diskspace", "store", store, "dir", dir)
	if g.statfs == nil {
		g.statfs = available
	}
	return g
}

// Check measures the free space now, updates the state and reports whether
// it is at least MinFree.
func (g *Guard) Check() bool {
	if g == nil {
		return true
	}
	free, err := g.statfs(existing(g.dir))
	now := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.checked.Store(now.UnixNano())
	low := false
	switch {
	case errors.Is(err, errUnsupported):
		if g.checkErr.Load() == nil {
			g.log.Warn("free space is not watched on this platform; writes are not guarded")
		}
		msg := err.Error()
		g.checkErr.Store(&msg)
		g.unsupported.Store(true)
	case err != nil:
		// Unknown counts as too little: a write into a full disk kills
		// the process, a refused one is retried.
		low = true
		msg := err.Error()
		if p := g.checkErr.Load(); p == nil || *p != msg {
			g.log.Error("cannot measure free space; refusing writes until it can be measured", "err", err)
		}
		g.checkErr.Store(&msg)
	default:
		g.checkErr.Store(nil)
		g.free.Store(free)
		low = free < g.min
	}
	was := g.state.Load()&stateLow != 0
	switch {
	case low && !was:
		g.lowSince.Store(now.UnixNano())
		g.setBits(stateLow, true)
		if err == nil {
			g.log.Error("DISK NEARLY FULL: the store refuses writes until there is room again; checks go on being answered",
				"free_bytes", free, "min_free_bytes", g.min)
		}
	case !low && was:
		since := time.Unix(0, g.lowSince.Load())
		g.lowSince.Store(0)
		g.setBits(stateLow, false)
		g.log.Info("free space is back above the threshold: the store accepts writes again",
			"free_bytes", free, "min_free_bytes", g.min, "refused_for", now.Sub(since).Round(time.Second).String())
	}
	return !low
}

// setBits sets or clears bits; callers hold mu.
func (g *Guard) setBits(bits uint32, on bool) {
	s := g.state.Load()
	if on {
		s |= bits
	} else {
		s &^= bits
	}
	g.state.Store(s)
}

// SetMode records how the store is open; only ModeReadWrite takes writes.
func (g *Guard) SetMode(m Mode) {
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.mode.Store(int32(m))
	g.setBits(stateNotOpen, m != ModeReadWrite)
}

// Mode is how the store is open (ModeReadWrite for a nil guard).
func (g *Guard) Mode() Mode {
	if g == nil {
		return ModeReadWrite
	}
	return Mode(g.mode.Load())
}

// Writable reports, from the last measurement, whether the store takes
// writes. One atomic load: cheap enough for any path.
func (g *Guard) Writable() bool { return g == nil || g.state.Load() == 0 }

// Err is nil while the store takes writes, else the *NoSpaceError a write
// would get. It counts nothing.
func (g *Guard) Err() error {
	if g.Writable() {
		return nil
	}
	return g.refusal(0)
}

// Allow admits a write that needs extra bytes beyond the threshold (0 if
// not estimated): nil if it may go ahead, else a *NoSpaceError, counted in
// RefusedWrites. A store that may write re-measures first, so a disk that
// filled since the last poll is caught before the write; a refusing one
// does not (one atomic load), until Run's poll finds room again.
func (g *Guard) Allow(extra uint64) error {
	if g == nil {
		return nil
	}
	if g.state.Load() == 0 && g.Check() && g.state.Load() == 0 &&
		(extra == 0 || g.unsupported.Load() || g.free.Load() >= g.min+extra) {
		return nil
	}
	g.refused.Add(1)
	return g.refusal(extra)
}

func (g *Guard) refusal(extra uint64) error {
	return &NoSpaceError{Store: g.store, Dir: g.dir, Free: g.free.Load(), Min: g.min, Need: extra, Mode: g.Mode()}
}

// OnRoom registers fn to run in Run's goroutine after every measurement
// that finds at least MinFree available (so at most once per Interval, and
// again after a failure). Stores use it to reopen for writing; fn must
// return quickly when it has nothing to do.
func (g *Guard) OnRoom(fn func()) {
	if g == nil {
		return
	}
	g.mu.Lock()
	g.hooks = append(g.hooks, fn)
	g.mu.Unlock()
}

// Poll measures once and, if there is room, runs the OnRoom functions in
// the order they were registered. Run calls it every Interval.
func (g *Guard) Poll() {
	if g == nil || !g.Check() {
		return
	}
	g.mu.Lock()
	hooks := g.hooks
	g.mu.Unlock()
	for _, h := range hooks {
		h()
	}
}

// Run polls every Interval until ctx ends.
func (g *Guard) Run(ctx context.Context) {
	if g == nil {
		return
	}
	t := time.NewTicker(g.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			g.Poll()
		}
	}
}

// Status is one store's disk state for /readyz, /status and /metrics.
type Status struct {
	Store string `json:"store"`
	Dir   string `json:"dir"`
	// Writable: the store takes writes (enough free space and open
	// read-write).
	Writable     bool   `json:"writable"`
	Mode         string `json:"mode"`
	FreeBytes    uint64 `json:"free_bytes"`
	MinFreeBytes uint64 `json:"min_free_bytes"`
	// LowSince: when the free space fell below MinFreeBytes (zero while
	// there is room).
	LowSince      time.Time `json:"low_since,omitzero"`
	CheckedAt     time.Time `json:"checked_at,omitzero"`
	CheckError    string    `json:"check_error,omitempty"`
	RefusedWrites uint64    `json:"refused_writes_total"`
	// Detail says what is refused and why, when not Writable.
	Detail string `json:"detail,omitempty"`
}

// Status reports the guard's state.
func (g *Guard) Status() Status {
	if g == nil {
		return Status{Writable: true, Mode: ModeReadWrite.String()}
	}
	s := Status{
		Store: g.store, Dir: g.dir, Writable: g.Writable(), Mode: g.Mode().String(),
		FreeBytes: g.free.Load(), MinFreeBytes: g.min, RefusedWrites: g.refused.Load(),
	}
	if n := g.lowSince.Load(); n != 0 {
		s.LowSince = time.Unix(0, n).UTC()
	}
	if n := g.checked.Load(); n != 0 {
		s.CheckedAt = time.Unix(0, n).UTC()
	}
	if p := g.checkErr.Load(); p != nil {
		s.CheckError = *p
	}
	if !s.Writable {
		s.Detail = g.refusal(0).Error()
	}
	return s
}

// existing returns dir or its nearest existing ancestor: a store not
// created yet lives on its parent's filesystem.
func existing(dir string) string {
	for d := dir; ; {
		if _, err := os.Stat(d); err == nil {
			return d
		}
		parent := filepath.Dir(d)
		if parent == d {
			return dir
		}
		d = parent
	}
}

// Bytes formats n for messages: "512 B", "3.2 MiB".
func Bytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
