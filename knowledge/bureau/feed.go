package bureau

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/rxguard/rxguard/knowledge"
	"github.com/rxguard/rxguard/knowledge/wire"
)

// feed is the physician-status event feed: events.jsonl on disk and the
// same events in memory, where events[i].Seq == i+1.
type feed struct {
	path string

	// appendMu serialises appends (and guards size); mu guards the slice
	// header. Appends only write past the length readers hold, so readers
	// page through their copy without a lock.
	appendMu sync.Mutex
	size     int64
	mu       sync.RWMutex
	events   []knowledge.PhysicianEvent
}

func (f *feed) snapshot() []knowledge.PhysicianEvent {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.events
}

// checkEvent applies the wire's rules to an event read from disk, so the
// feed never serves what a sidecar would refuse.
func checkEvent(e knowledge.PhysicianEvent) error {
	_, err := wire.EventFromProto(wire.EventToProto(e))
	return err
}

// load reads events.jsonl. A last line without its newline is an append
// that was cut short (the publisher got no answer): it is dropped, or
// completed when it is a whole event.
func (f *feed) load(log *slog.Logger) error {
	b, err := os.ReadFile(f.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("bureau event feed: %w", err)
	}
	var events []knowledge.PhysicianEvent
	for off, line := 0, 1; off < len(b); line++ {
		end := bytes.IndexByte(b[off:], '\n')
		torn := end < 0
		if torn {
			end = len(b) - off
		}
		raw := bytes.TrimSpace(b[off : off+end])
		var e knowledge.PhysicianEvent
		var perr error
		if len(raw) > 0 {
			if perr = json.Unmarshal(raw, &e); perr == nil {
				if perr = checkEvent(e); perr == nil && e.Seq != int64(len(events))+1 {
					perr = fmt.Errorf("seq %d where %d is next (the feed is numbered 1, 2, 3, … without gaps)", e.Seq, len(events)+1)
				}
			}
		}
		if torn && len(raw) > 0 {
			if err := f.repairTail(log, int64(off), int64(len(b)), perr == nil, line); err != nil {
				return err
			}
			if perr != nil {
				break
			}
		} else if perr != nil {
			return fmt.Errorf("bureau event feed %s line %d: %w; restore the file from a backup or remove the line and what follows", f.path, line, perr)
		}
		if len(raw) > 0 {
			events = append(events, e)
		}
		off += end + 1
	}
	fi, err := os.Stat(f.path)
	if err != nil {
		return fmt.Errorf("bureau event feed: %w", err)
	}
	f.events, f.size = events, fi.Size()
	return nil
}

func (f *feed) repairTail(log *slog.Logger, off, size int64, whole bool, line int) error {
	fh, err := os.OpenFile(f.path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("bureau event feed: repair the last line: %w", err)
	}
	defer fh.Close()
	if whole {
		log.Warn("event feed's last line had no newline; completing it", "file", f.path, "line", line)
		_, err = fh.WriteAt([]byte("\n"), size)
	} else {
		log.Warn("dropping an incomplete last line of the event feed (an append that was cut short)", "file", f.path, "line", line)
		err = fh.Truncate(off)
	}
	if err == nil {
		err = fh.Sync()
	}
	if err != nil {
		return fmt.Errorf("bureau event feed: repair the last line: %w", err)
	}
	return nil
}

func encodeEvents(events []knowledge.PhysicianEvent) ([]byte, error) {
	var buf bytes.Buffer
	for _, e := range events {
		b, err := json.Marshal(e)
		if err != nil {
			return nil, fmt.Errorf("encode physician event %d: %w", e.Seq, err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	return buf.Bytes(), nil
}

// writeAll replaces the feed file (seeding an empty bureau).
func (f *feed) writeAll(events []knowledge.PhysicianEvent) error {
	b, err := encodeEvents(events)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(f.path, b); err != nil {
		return fmt.Errorf("bureau event feed: %w", err)
	}
	return nil
}

// feedMovedError: an append was meant to follow another seq than the
// feed's newest.
type feedMovedError struct{ after, last int64 }

func (e *feedMovedError) Error() string {
	return fmt.Sprintf("events to append after seq %d, but the feed ends at seq %d", e.after, e.last)
}

// append numbers events after the newest, which must be afterSeq, writes
// them durably and only then shows them to readers. On a failed write the
// file is cut back, so the next append does not land after half a line.
func (f *feed) append(afterSeq int64, events []knowledge.PhysicianEvent) (first, last int64, err error) {
	f.appendMu.Lock()
	defer f.appendMu.Unlock()
	cur := f.snapshot()
	if n := int64(len(cur)); n != afterSeq {
		return 0, 0, &feedMovedError{after: afterSeq, last: n}
	}
	first = int64(len(cur)) + 1
	for i := range events {
		events[i].Seq = first + int64(i)
	}
	b, err := encodeEvents(events)
	if err != nil {
		return 0, 0, err
	}
	_, statErr := os.Stat(f.path)
	created := errors.Is(statErr, os.ErrNotExist)
	fh, err := os.OpenFile(f.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return 0, 0, fmt.Errorf("bureau event feed: %w", err)
	}
	_, err = fh.Write(b)
	if err == nil {
		err = fh.Sync()
	}
	if err != nil {
		_ = fh.Truncate(f.size)
		fh.Close()
		return 0, 0, fmt.Errorf("bureau event feed %s: append: %w (check free disk space)", f.path, err)
	}
	if err := fh.Close(); err != nil {
		return 0, 0, fmt.Errorf("bureau event feed: %w", err)
	}
	if created {
		if err := syncDir(filepath.Dir(f.path)); err != nil {
			return 0, 0, fmt.Errorf("bureau event feed: %w", err)
		}
	}
	f.size += int64(len(b))
	f.mu.Lock()
	f.events = append(cur, events...)
	f.mu.Unlock()
	return first, first + int64(len(events)) - 1, nil
}
