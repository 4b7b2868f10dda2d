package badgerdb

import "sync"

// Life guards a database against Close while calls use it: calls hold it
// for reading between Enter and Leave; Close waits for them, closes once,
// and later Enter calls report false.
type Life struct {
	mu     sync.RWMutex
	closed bool
}

// Enter reports whether the database is open; if so the caller must Leave.
func (l *Life) Enter() bool {
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return false
	}
	return true
}

// Leave ends a call started by a successful Enter.
func (l *Life) Leave() { l.mu.RUnlock() }

// Close waits for calls in progress and runs closeFn the first time only.
func (l *Life) Close(closeFn func() error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	return closeFn()
}

// Swap waits for calls in progress, like Close, and runs fn while no call
// can use the database: fn may replace it. It reports false, without
// running fn, once the database is closed.
func (l *Life) Swap(fn func()) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	fn()
	return true
}
