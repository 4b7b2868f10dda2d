package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/rxguard/rxguard/internal/diskspace"
	"github.com/rxguard/rxguard/knowledge"
	"github.com/rxguard/rxguard/knowledge/demo"
	"github.com/rxguard/rxguard/knowledge/importer"
	"github.com/rxguard/rxguard/knowledge/store"
	"github.com/rxguard/rxguard/server/engine"
)

// ActivateRelease makes version the store's active release and then the
// engine's: verify, switch the store pointer, compile, swap the index. The
// compiled index is built completely before the swap, so checks in flight
// finish on the release they started with and new ones see the new one.
func ActivateRelease(ctx context.Context, st *store.Store, eng *engine.Engine, version string) (knowledge.Manifest, error) {
	idx, err := compileVersion(ctx, st, version)
	if err != nil {
		return knowledge.Manifest{}, err
	}
	if err := st.Activate(ctx, version); err != nil {
		return knowledge.Manifest{}, fmt.Errorf("activate release %s: %w", version, err)
	}
	eng.Swap(idx)
	return idx.Manifest, nil
}

// Knowledge is the sidecar's store and engine as the bureau sync client's
// target.
type Knowledge struct {
	Store  *store.Store
	Engine *engine.Engine
}

// InstallRelease stores a verified release and activates it: the store
// write completes (manifest last) before the switch, so a crash at any point
// leaves the previous release active and complete.
func (k Knowledge) InstallRelease(ctx context.Context, m knowledge.Manifest, records []knowledge.Record) error {
	if err := k.Store.PutRelease(ctx, m, records); err != nil {
		return fmt.Errorf("store release %s: %w", m.Version, err)
	}
	return k.activateStored(ctx, m, records)
}

// InstallDelta is InstallRelease for a delta: the store applies d to its
// base as it reads it and keeps only the difference (store.ApplyDelta), and
// the engine compiles the changes into the active index when that is the
// base's (engine.CompileDelta) — neither release's records are held in
// memory. A delta the engine does not compile that way (it changes other
// classes) is compiled whole from the stored release.
func (k Knowledge) InstallDelta(ctx context.Context, m knowledge.Manifest, d store.Delta) error {
	applied, err := k.Store.ApplyDelta(ctx, m, d)
	if err != nil {
		return fmt.Errorf("store release %s as changes to %s: %w", m.Version, d.Base, err)
	}
	return k.activateStoredWith(ctx, m, func(m knowledge.Manifest) (*engine.Index, error) {
		if prev := k.Engine.Index(); prev != nil && prev.Version() == d.Base {
			idx, ok, err := engine.CompileDelta(prev, m, applied.Changed, applied.Withdrawn)
			if err != nil {
				return nil, fmt.Errorf("compile release %s from %s: %w", m.Version, d.Base, err)
			}
			if ok {
				return idx, nil
			}
		}
		return compileVersion(ctx, k.Store, m.Version)
	})
}

// activateStored is ActivateRelease of a release just stored from records:
// it compiles those records instead of reading them back. The store's put
// proved them against the manifest (checkRelease) and what it wrote against
// the same manifest (read back before the manifest was written), so the
// read-back of ActivateRelease would only prove the same content a third
// time; Activate still verifies what is stored unless the store itself has
// just proven it (an overlay's merged stream).
func (k Knowledge) activateStored(ctx context.Context, put knowledge.Manifest, records []knowledge.Record) error {
	if put.RecordCount != len(records) {
		return fmt.Errorf("release %s: %d records installed, its manifest says %d", put.Version, len(records), put.RecordCount)
	}
	return k.activateStoredWith(ctx, put, func(m knowledge.Manifest) (*engine.Index, error) {
		return engine.CompileRecords(m, records)
	})
}

// activateStoredWith is activateStored with the compile step given.
func (k Knowledge) activateStoredWith(ctx context.Context, put knowledge.Manifest, compile func(knowledge.Manifest) (*engine.Index, error)) error {
	version := put.Version
	// The stored manifest, not the caller's: a version stored before with
	// the same content keeps its manifest (PutRelease's no-op).
	m, err := k.Store.Manifest(ctx, version)
	if err != nil {
		return fmt.Errorf("read manifest of release %s: %w", version, err)
	}
	if m.ContentSHA256 != put.ContentSHA256 || m.RecordCount != put.RecordCount {
		// A successful put rules this out (same version, same content);
		// compiling would serve content the store does not hold.
		return fmt.Errorf("release %s: stored content_sha256 %s, installed %s; install it again", version, m.ContentSHA256, put.ContentSHA256)
	}
	idx, err := compile(m)
	if err != nil {
		return err
	}
	if err := k.Store.Activate(ctx, version); err != nil {
		return fmt.Errorf("activate release %s: %w", version, err)
	}
	k.Engine.Swap(idx)
	return nil
}

// SetPhysicianFeed hands the bureau's physician events to the engine.
func (k Knowledge) SetPhysicianFeed(events []knowledge.PhysicianEvent) {
	k.Engine.SetPhysicianFeed(events)
}

// LoadActive compiles the store's persisted active release into the engine.
// ok=false means the store has no active release yet.
func LoadActive(ctx context.Context, st *store.Store, eng *engine.Engine) (m knowledge.Manifest, ok bool, err error) {
	m, ok, err = st.Active(ctx)
	if err != nil || !ok {
		return m, ok, err
	}
	idx, err := compileVersion(ctx, st, m.Version)
	if err != nil {
		return m, false, err
	}
	eng.Swap(idx)
	return idx.Manifest, true, nil
}

func compileVersion(ctx context.Context, st *store.Store, version string) (*engine.Index, error) {
	m, err := st.Manifest(ctx, version)
	if err != nil {
		return nil, fmt.Errorf("read manifest of release %s: %w", version, err)
	}
	// Records proves the records against the manifest's SHA-256 as it reads
	// them (a mismatch is store.ErrCorrupt), so nothing unverified compiles.
	records, err := st.Records(ctx, version)
	if err != nil {
		return nil, fmt.Errorf("read release %s (re-import it if the store is damaged): %w", version, err)
	}
	// The records are ours alone: decoding releases each as it goes.
	content, err := knowledge.ContentFromOwnedRecords(records)
	if err != nil {
		return nil, fmt.Errorf("decode release %s: %w", m.Version, err)
	}
	return engine.Compile(m, content)
}

// EnsureActive loads the persisted active release, or — on a store that
// has none — builds the embedded demo release, stores and activates it.
// While the store refuses writes (disk nearly full) the demo release is
// compiled and served without being stored; calling EnsureActive again
// once the store takes writes stores it.
func EnsureActive(ctx context.Context, st *store.Store, eng *engine.Engine, log *slog.Logger) (knowledge.Manifest, error) {
	m, ok, err := LoadActive(ctx, st, eng)
	if err != nil {
		return m, err
	}
	if ok {
		log.Info("serving persisted release", "version", m.Version, "records", m.RecordCount)
		return m, nil
	}
	start := time.Now()
	m, records, report, err := demo.Release(ctx, time.Now())
	if err != nil {
		return m, err
	}
	if werr := st.Writable(); werr != nil {
		return serveUnstored(m, records, eng, log, werr)
	}
	if err := st.PutRelease(ctx, m, records); err != nil {
		if errors.Is(err, diskspace.ErrNoSpace) {
			return serveUnstored(m, records, eng, log, err)
		}
		return m, fmt.Errorf("store demo release: %w", err)
	}
	if m, err = ActivateRelease(ctx, st, eng, m.Version); err != nil {
		return m, err
	}
	log.Info("no release in the store: built and activated the embedded demo release",
		"version", m.Version, "records", m.RecordCount, "warnings", warningCount(report), "took", time.Since(start).Round(time.Millisecond))
	return m, nil
}

// serveUnstored compiles a release straight into the engine, for a store
// that cannot take it now.
func serveUnstored(m knowledge.Manifest, records []knowledge.Record, eng *engine.Engine, log *slog.Logger, why error) (knowledge.Manifest, error) {
	idx, err := engine.CompileRecords(m, records)
	if err != nil {
		return m, err
	}
	eng.Swap(idx)
	log.Warn("serving the embedded demo release from memory without storing it; it is stored once the store takes writes",
		"version", m.Version, "records", m.RecordCount, "why", why.Error())
	return idx.Manifest, nil
}

func warningCount(r importer.Report) int {
	n := 0
	for _, f := range r.Files {
		n += f.Warnings
	}
	return n
}
