package bureausync

import (
	"context"
	"crypto/ed25519"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	bureauv1 "github.com/rxguard/rxguard/gen/rxguard/bureau/v1"
	"github.com/rxguard/rxguard/internal/diskspace"
	"github.com/rxguard/rxguard/knowledge/store"
	"github.com/rxguard/rxguard/knowledge/wire"
)

// While the store refuses writes (disk nearly full) a poll does not even
// fetch the release: it fails with the reason and is retried; with room
// again the next poll installs it.
func TestSyncDoesNotInstallOnANearlyFullDisk(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var free atomic.Uint64
	free.Store(1 << 20)
	space := diskspace.New("knowledge", "kb", diskspace.Options{MinFree: 256 << 20, Logger: quietLog(),
		Statfs: func(string) (uint64, error) { return free.Load(), nil }})
	st, err := store.Open(ctx, store.Options{Dir: t.TempDir(), Logger: quietLog(), Space: space})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	target := &storeTarget{st: st}
	c, err := New(ctx, f.addr, f.client.conn, st, target, Options{
		Trusted: []ed25519.PublicKey{pub(f.key)}, PollInterval: time.Second, Logger: quietLog(), Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	v1 := recordsN(200, "a")
	m1 := f.release(t, "2026.11.01", "", v1, t0, f.key)
	f.serve(t, &wire.Release{Manifest: m1, Kind: bureauv1.ReleaseKind_RELEASE_KIND_FULL, Ops: wire.FullOps(v1)}, nil)

	// The store was opened on the nearly full disk: not created, refusing writes.
	err = c.SyncNow(ctx)
	if !errors.Is(err, diskspace.ErrNoSpace) || !strings.Contains(err.Error(), "not installed, retried later") {
		t.Fatalf("poll on a nearly full disk: %v", err)
	}
	if f.bureau.fetches != 0 || target.installs != 0 {
		t.Fatalf("fetched %d, installed %d on a nearly full disk", f.bureau.fetches, target.installs)
	}
	if s := c.Status(); s.ConsecutiveFailures != 1 || !strings.Contains(s.LastError, "disk nearly full") {
		t.Fatalf("status: %+v", s)
	}

	free.Store(1 << 30)
	space.Poll() // the store reopens for writing
	if err := c.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	if m, ok, _ := st.Active(ctx); !ok || m.Version != m1.Version {
		t.Fatalf("with room: active %q", m.Version)
	}
}
