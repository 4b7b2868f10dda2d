package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/rxguard/rxguard/internal/badgerdb"
	"github.com/rxguard/rxguard/internal/diskspace"
	"github.com/rxguard/rxguard/knowledge/store"
	"github.com/rxguard/rxguard/server"
	"github.com/rxguard/rxguard/server/engine"
)

// diskGuards are the free-space guards of the knowledge store, the history
// store and the decision log (nil when it is disabled), docs/operations.md
// "Disk space". The default threshold reserves room for every store opened.
func (c config) diskGuards(log *slog.Logger) (kb, hist, decisions *diskspace.Guard) {
	stores := 3
	if c.DecisionLog.Disabled {
		stores = 2
	}
	minFree := badgerdb.DefaultMinFreeBytes(stores)
	if c.MinFreeBytes > 0 {
		minFree = uint64(c.MinFreeBytes)
	}
	opts := diskspace.Options{MinFree: minFree, Logger: log}
	kb = diskspace.New("knowledge", filepath.Join(c.DataDir, "kb"), opts)
	hist = diskspace.New("history", filepath.Join(c.DataDir, "history"), opts)
	if !c.DecisionLog.Disabled {
		decisions = diskspace.New("decisions", filepath.Join(c.DataDir, "decisions"), opts)
	}
	log.Info("stores refuse writes below this much free space", "min_free_bytes", minFree, "min_free", diskspace.Bytes(minFree))
	return kb, hist, decisions
}

// watchDisk polls the guards until ctx ends. The stores reopen themselves
// for writing when there is room; this adds what the sidecar must do then:
// store the embedded demo release if it is being served from memory (it
// was started on a nearly full disk with an empty store).
func watchDisk(ctx context.Context, st *store.Store, eng *engine.Engine, log *slog.Logger, kb *diskspace.Guard, others ...*diskspace.Guard) {
	var unstored atomic.Bool
	if _, ok, err := st.Active(ctx); err == nil && !ok {
		unstored.Store(true)
	}
	// Building the demo release costs most of a second of CPU; when storing
	// it fails (the room is above the threshold but short of the release),
	// the next try waits twice as long, up to a minute, instead of
	// rebuilding it at every poll.
	var nextTry time.Time
	wait := time.Second
	kb.OnRoom(func() {
		if !unstored.Load() || st.Writable() != nil || time.Now().Before(nextTry) {
			return
		}
		if _, err := server.EnsureActive(ctx, st, eng, log); err != nil {
			log.Warn("storing the embedded demo release failed; tried again later", "err", err, "retry_in", wait.String())
			nextTry, wait = time.Now().Add(wait), min(2*wait, time.Minute)
			return
		}
		if _, ok, err := st.Active(ctx); err == nil && ok {
			unstored.Store(false)
		}
	})
	go kb.Run(ctx)
	for _, g := range others {
		go g.Run(ctx)
	}
}
