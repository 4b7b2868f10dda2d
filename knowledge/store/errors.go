package store

import (
	"errors"
	"fmt"
)

// Sentinels for errors.Is. The typed errors below carry the details an
// operator needs (directory, version, reason) and match these sentinels.
var (
	// ErrNotFound: the version has no complete release in the store.
	ErrNotFound = errors.New("knowledge release not found")
	// ErrCorrupt: a release's stored content does not prove out against
	// its manifest (hash, counts, key layout or manifest encoding).
	ErrCorrupt = errors.New("knowledge release corrupt")
	// ErrInvalidRelease: PutRelease was handed records and a manifest that
	// do not describe each other; nothing was written.
	ErrInvalidRelease = errors.New("invalid knowledge release")
	// ErrVersionConflict: the version already exists with different content.
	// Releases are immutable; a new content needs a new version.
	ErrVersionConflict = errors.New("knowledge release version already exists with different content")
	// ErrBusy: another call is writing or removing the same version.
	ErrBusy = errors.New("knowledge release is being written or removed")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("knowledge store closed")
)

// NotFoundError reports a version without a complete release.
type NotFoundError struct {
	Dir     string
	Version string
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("knowledge store %s: release %q not found (never written, incomplete, or garbage-collected)", e.Dir, e.Version)
}

func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

// CorruptError reports a release whose stored content does not match its
// manifest. Reason says what did not match.
type CorruptError struct {
	Dir     string
	Version string
	Reason  string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("knowledge store %s: release %q is corrupt: %s", e.Dir, e.Version, e.Reason)
}

func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }
