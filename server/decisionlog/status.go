package decisionlog

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/rxguard/rxguard/internal/diskspace"
)

// State is the log's health.
type State string

const (
	// StateOK: decisions are being recorded.
	StateOK State = "ok"
	// StateDegraded: decisions are not being recorded (the store could not
	// be opened for writing, refuses writes on a nearly full disk, or its
	// last commit failed). Checks are still answered.
	StateDegraded State = "degraded"
)

// Status is the log's one typed status for /readyz, /status, /metrics and
// `rxguard status`.
type Status struct {
	State   State     `json:"state"`
	Message string    `json:"message,omitempty"`
	Since   time.Time `json:"since"`
	Detail  Detail    `json:"detail"`
}

// Detail is the state behind a Status.
type Detail struct {
	Dir        string `json:"dir"`
	Durability string `json:"durability"`
	// Writable: open read-write and (with a disk guard) enough room.
	Writable      bool   `json:"writable"`
	QueueDepth    int    `json:"queue_depth"`
	QueueCapacity int    `json:"queue_capacity"`
	Written       uint64 `json:"written_total"`
	Waited        uint64 `json:"waited_total"`
	Failed        uint64 `json:"failed_total"`
	Dropped       uint64 `json:"dropped_total"`
	Commits       uint64 `json:"commits_total"`
	LastError     string `json:"last_error,omitempty"`
	// LastErrorAt: when LastError happened (zero if never).
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	// BytesOnDisk: the store's tables and value logs.
	BytesOnDisk int64 `json:"bytes_on_disk"`
	// Disk is the disk guard's state (nil without a guard).
	Disk *diskspace.Status `json:"disk,omitempty"`
}

// Stats are the log's counters since Open, for metrics: atomic loads.
type Stats struct {
	// QueueDepth: decisions (and calls) waiting for the writer.
	QueueDepth    int
	QueueCapacity int
	// Written: decisions committed to disk.
	Written uint64
	// Waited: Appends that found the queue full and waited for room
	// (back-pressure on checks).
	Waited uint64
	// Failed: decisions the store could not write (storage error, disk
	// nearly full, store not open, unusable entry).
	Failed uint64
	// Dropped: decisions not even queued: their check's context ended
	// while waiting for room, or they came after Close.
	Dropped uint64
	// Commits: Badger transactions committed (group commits, recorded
	// responses, signed links).
	Commits uint64
}

// Stats returns the counters.
func (l *Log) Stats() Stats {
	return Stats{
		QueueDepth: len(l.queue), QueueCapacity: cap(l.queue),
		Written: l.written.Load(), Waited: l.waited.Load(), Failed: l.failed.Load(),
		Dropped: l.dropped.Load(), Commits: l.commits.Load(),
	}
}

// Status reports the log's state.
func (l *Log) Status() Status {
	st := l.Stats()
	l.health.mu.Lock()
	ok, msg, since, lastErr, lastErrAt := l.health.ok, l.health.message, l.health.since, l.health.lastErr, l.health.lastErrAt
	l.health.mu.Unlock()
	writable := l.writable.Load() && l.opts.Space.Writable()
	s := Status{
		State: StateOK, Message: msg, Since: since,
		Detail: Detail{
			Dir: l.opts.Dir, Durability: l.opts.Durability.String(), Writable: writable,
			QueueDepth: st.QueueDepth, QueueCapacity: st.QueueCapacity,
			Written: st.Written, Waited: st.Waited, Failed: st.Failed, Dropped: st.Dropped, Commits: st.Commits,
			LastError: lastErr, LastErrorAt: lastErrAt, BytesOnDisk: l.health.bytesOnDisk(l.opts.Dir),
		},
	}
	if g := l.opts.Space; g != nil {
		ds := g.Status()
		s.Detail.Disk = &ds
		if ok && !ds.Writable {
			// The guard refuses before the writer has tried.
			ok, s.Message, s.Since = false, "disk nearly full: decisions are not recorded until there is room (checks are answered): "+ds.Detail, ds.LowSince
		}
	}
	if ok && l.syncing.broken.Load() {
		// Derived, not only stored: a commit that succeeded while the
		// syncer was failing must not report the log healthy.
		ok, s.Message = false, "the decision log cannot sync to disk: recent decisions and responses may not survive a power loss (checks are answered)"
	}
	if !ok {
		s.State = StateDegraded
	}
	return s
}

// health is the state the writer and the opener report.
type health struct {
	mu        sync.Mutex
	ok        bool
	message   string
	since     time.Time
	lastErr   string
	lastErrAt time.Time

	// The disk usage, measured at most every bytesEvery: a store of years
	// has thousands of tables, and /readyz asks often.
	bytes   int64
	bytesAt time.Time
}

const bytesEvery = 10 * time.Second

func (h *health) bytesOnDisk(dir string) int64 {
	h.mu.Lock()
	n, fresh := h.bytes, time.Since(h.bytesAt) < bytesEvery
	h.mu.Unlock()
	if fresh {
		return n
	}
	// Measured outside the lock: the writer takes it after every commit.
	n = dirBytes(dir)
	h.mu.Lock()
	h.bytes, h.bytesAt = n, time.Now()
	h.mu.Unlock()
	return n
}

// set records a state; err (if any) becomes the last error. It logs
// transitions.
func (h *health) set(l *Log, ok bool, message string, err error) {
	now := l.opts.Now()
	h.mu.Lock()
	changed := h.ok != ok
	if changed {
		h.since = now
	}
	h.ok, h.message = ok, message
	if err != nil {
		h.lastErr, h.lastErrAt = err.Error(), now
	}
	recovered := changed && ok && h.lastErr != ""
	h.mu.Unlock()
	if recovered {
		l.log.Info("decision log recording again", "written", l.written.Load(), "failed", l.failed.Load())
	}
}

func (h *health) isOK() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ok
}

func (h *health) lastError() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.lastErr == "" {
		return "not open"
	}
	return h.lastErr
}

// dirBytes is the disk space Badger's tables and logs in dir take.
func dirBytes(dir string) int64 {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var n int64
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".sst") && !strings.HasSuffix(name, ".vlog") && !strings.HasSuffix(name, ".mem") {
			continue
		}
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err == nil {
			n += allocated(info)
		}
	}
	return n
}

// noteError records err as the last error without changing the state.
func (h *health) noteError(l *Log, err error) {
	now := l.opts.Now()
	h.mu.Lock()
	h.lastErr, h.lastErrAt = err.Error(), now
	h.mu.Unlock()
}
