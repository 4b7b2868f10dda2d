package bureausync

import (
	"context"
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	bureauv1 "github.com/rxguard/rxguard/gen/rxguard/bureau/v1"
	"github.com/rxguard/rxguard/knowledge"
	"github.com/rxguard/rxguard/knowledge/wire"
)

func fullRel(m knowledge.Manifest, recs []knowledge.Record) *wire.Release {
	return &wire.Release{Manifest: m, Kind: bureauv1.ReleaseKind_RELEASE_KIND_FULL, Ops: wire.FullOps(recs)}
}

// A release dated further after the sidecar's clock than the skew (24 h by
// default) is refused even when a trusted key signed it: installed, its
// date would make anti-rollback refuse every genuine release created
// before it. A clock a few hours apart is within the skew.
func TestSyncRefusesReleaseFromTheFuture(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	now := f.clock.Now()
	v1 := recordsN(50, "a")
	m1 := f.release(t, "2026.11.01", "", v1, t0, f.key)
	f.serve(t, fullRel(m1, v1), nil)
	if err := f.client.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	before := f.fingerprint(t)
	v2 := recordsN(50, "forged")
	for _, created := range []time.Time{now.Add(25 * time.Hour), time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)} {
		f.serve(t, fullRel(f.release(t, "forged", m1.Version, v2, created, f.key), v2), nil)
		err := f.client.SyncNow(ctx)
		if err == nil || !strings.Contains(err.Error(), "after this host's clock") {
			t.Fatalf("release created %s (clock %s): %v", created, now, err)
		}
		if after := f.fingerprint(t); after != before {
			t.Fatalf("store changed:\nbefore %s\nafter  %s", before, after)
		}
	}
	m3 := f.release(t, "2026.11.23", m1.Version, v2, now.Add(23*time.Hour), f.key)
	f.serve(t, fullRel(m3, v2), nil)
	if err := f.client.SyncNow(ctx); err != nil {
		t.Fatalf("release 23 h ahead (within the skew): %v", err)
	}
}

// The stream's manifest must be the one GetLatestRelease named and the
// checks passed, date included.
func TestSyncRefusesStreamWithAnotherDate(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	v1 := recordsN(50, "a")
	m1 := f.release(t, "2026.11.01", "", v1, t0, f.key)
	f.serve(t, fullRel(m1, v1), nil)
	if err := f.client.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	before := f.fingerprint(t)
	v2 := recordsN(60, "b")
	f.serve(t, fullRel(f.release(t, "2026.11.15", m1.Version, v2, time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC), f.key), v2), nil)
	f.bureau.mu.Lock()
	f.bureau.latest = f.release(t, "2026.11.15", m1.Version, v2, t0.Add(time.Hour), f.key)
	f.bureau.mu.Unlock()
	if err := f.client.SyncNow(ctx); err == nil || !strings.Contains(err.Error(), "when 2026.11.15 was asked for") {
		t.Fatalf("stream manifest dated 2099 under a latest dated %s: %v", t0.Add(time.Hour), err)
	}
	if after := f.fingerprint(t); after != before {
		t.Fatalf("store changed:\nbefore %s\nafter  %s", before, after)
	}
}

// A sidecar that installed a forged 2099 release (with an rxguard before
// the date check) refuses every genuine release as a rollback; the error
// says why and what the operator runs. After the operator installs a
// trusted release (kb import-release: Prepare, then install), sync goes on
// as normal.
func TestSyncForgedActiveSaysHowToRecover(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	now := f.clock.Now()
	forged := recordsN(30, "evil")
	mf := f.release(t, "forged", "", forged, time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC), f.key)
	if err := f.target.InstallRelease(ctx, mf, forged); err != nil {
		t.Fatal(err)
	}
	good := recordsN(40, "good")
	mg := f.release(t, "2026.12", "", good, now.Add(-time.Hour), f.key)
	f.serve(t, fullRel(mg, good), nil)
	before := f.fingerprint(t)
	err := f.client.SyncNow(ctx)
	if err == nil || !strings.Contains(err.Error(), "more than 24h0m0s after this host's clock") || !strings.Contains(err.Error(), "rxguard kb import-release") {
		t.Fatalf("sync onto a forged 2099 release: %v", err)
	}
	if after := f.fingerprint(t); after != before {
		t.Fatalf("store changed:\nbefore %s\nafter  %s", before, after)
	}

	// The operator installs 2026.12 from its file, as kb import-release does.
	m, recs, err := Prepare(fullRel(mg, good), []ed25519.PublicKey{pub(f.key)})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.target.InstallRelease(ctx, m, recs); err != nil {
		t.Fatal(err)
	}
	if err := f.client.SyncNow(ctx); err != nil {
		t.Fatalf("sync after the recovery: %v", err)
	}
	next := append(good[:39:39], recordsN(41, "next")[40])
	mn := f.release(t, "2026.12-2", mg.Version, next, now, f.key)
	f.serve(t, &wire.Release{Manifest: mn, Kind: bureauv1.ReleaseKind_RELEASE_KIND_DELTA, BaseVersion: mg.Version, BaseSHA256: mg.ContentSHA256, Ops: wire.Diff(good, next)}, nil)
	if err := f.client.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	if a, _, _ := f.st.Active(ctx); a.Version != "2026.12-2" {
		t.Fatalf("active %s after the next release", a.Version)
	}
}
