// Package bureausync keeps the sidecar's knowledge in step with the bureau:
// it polls the bureau (rxguard.bureau.v1) with a jittered interval, fetches
// full or delta releases and the physician-status feed, proves everything
// (signature, operation hash, content hash) before anything is written,
// installs releases as one atomic switch and persists the feed with its
// cursor. While the bureau is unreachable it backs off exponentially and the
// sidecar goes on serving what it has; Status says how stale that is.
package bureausync

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"

	bureauv1 "github.com/rxguard/rxguard/gen/rxguard/bureau/v1"
	"github.com/rxguard/rxguard/knowledge"
	"github.com/rxguard/rxguard/knowledge/store"
	"github.com/rxguard/rxguard/knowledge/wire"
)

// DefaultMaxClockSkew is how far after the sidecar's clock a release may be
// dated: hospital clocks drift, but a release from further in the future
// is forged or misdated, and installing it would make anti-rollback refuse
// every genuine release created before that date.
const DefaultMaxClockSkew = 24 * time.Hour

// ErrFutureRelease is returned (wrapped) for a release created further
// after the local clock than the allowed skew.
var ErrFutureRelease = errors.New("release is dated in the future")

// CheckCreated refuses a manifest created more than skew after now. Bureau
// sync and `kb import-release` both apply it, so no release can carry a
// date that holds the sidecar back (anti-rollback compares Created) for
// longer than skew.
func CheckCreated(m knowledge.Manifest, now time.Time, skew time.Duration) error {
	if ahead := m.Created.Sub(now); ahead > skew {
		return fmt.Errorf("%w: release %s is created %s, %s after this host's clock (%s; at most %s is allowed): "+
			"a forged or misdated release would make this sidecar refuse every release created before that date; check this host's clock and the publisher's",
			ErrFutureRelease, m.Version, m.Created.UTC().Format(time.RFC3339), ahead.Round(time.Second), now.UTC().Format(time.RFC3339), skew)
	}
	return nil
}

// Target receives what the client has proven: the sidecar's store and
// engine behind one narrow interface.
type Target interface {
	// InstallRelease stores a verified full release and makes it the
	// active one (store switch and index swap).
	InstallRelease(ctx context.Context, m knowledge.Manifest, records []knowledge.Record) error
	// InstallDelta applies a delta to the release it is against in the
	// store (store.ApplyDelta, which proves the result against m as it
	// applies it) and makes the result the active one. The client has
	// checked its signature and that its base is the active release.
	InstallDelta(ctx context.Context, m knowledge.Manifest, d store.Delta) error
	// SetPhysicianFeed gives the engine the whole stored feed.
	SetPhysicianFeed(events []knowledge.PhysicianEvent)
}

// Options configures a Client.
type Options struct {
	// Trusted are the publisher keys releases and feed pages must be
	// signed with. At least one.
	Trusted []ed25519.PublicKey
	// PollInterval between successful polls (jittered ±20%).
	PollInterval time.Duration
	// MaxBackoff caps the wait between failed attempts.
	MaxBackoff time.Duration
	// StaleAfter: Status reports stale when the last success is older.
	StaleAfter time.Duration
	// CallTimeout bounds one poll (all its calls).
	CallTimeout time.Duration
	// Limits bound the streams accepted.
	Limits wire.Limits
	// MaxClockSkew bounds how far after this sidecar's clock a release's
	// Created may be (default DefaultMaxClockSkew; see CheckCreated).
	MaxClockSkew time.Duration
	Logger       *slog.Logger
	// Now is the clock (tests).
	Now func() time.Time
}

func (o *Options) defaults() {
	if o.PollInterval <= 0 {
		o.PollInterval = time.Minute
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 10 * time.Minute
	}
	if o.StaleAfter <= 0 {
		o.StaleAfter = max(3*o.PollInterval, 15*time.Minute)
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = 2 * time.Minute
	}
	if o.Limits == (wire.Limits{}) {
		o.Limits = wire.DefaultLimits()
	}
	if o.MaxClockSkew <= 0 {
		o.MaxClockSkew = DefaultMaxClockSkew
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Status is the sync state for health, metrics and `rxguard status`.
type Status struct {
	Bureau        string    `json:"bureau"`
	ActiveVersion string    `json:"active_version"`
	LastAttempt   time.Time `json:"last_attempt,omitzero"`
	// LastSuccess: the last poll that reached the bureau and left the
	// sidecar up to date (persisted across restarts).
	LastSuccess         time.Time `json:"last_success,omitzero"`
	LastError           string    `json:"last_error,omitempty"`
	LastErrorAt         time.Time `json:"last_error_at,omitzero"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
	Failures            int64     `json:"failures_total"`
	// BureauLatest is the newest release the bureau last named, and
	// VersionsBehind how many releases the active one was behind it then
	// (-1: the bureau did not know the active release).
	BureauLatest   string `json:"bureau_latest,omitempty"`
	VersionsBehind int    `json:"versions_behind"`
	// LagSeconds: seconds since LastSuccess (since start if never).
	LagSeconds      float64   `json:"lag_seconds"`
	Stale           bool      `json:"stale"`
	FeedCursor      int64     `json:"feed_cursor"`
	BureauLastSeq   int64     `json:"bureau_last_seq"`
	ReleasesApplied int64     `json:"releases_applied_total"`
	LastApply       string    `json:"last_apply_duration,omitempty"`
	NextPoll        time.Time `json:"next_poll,omitzero"`
}

// persisted is the part of Status kept in the store.
type persisted struct {
	LastSuccess  time.Time `json:"last_success"`
	BureauLatest string    `json:"bureau_latest"`
}

// Client syncs one sidecar with one bureau.
type Client struct {
	opts   Options
	addr   string
	conn   *grpc.ClientConn
	bureau bureauv1.BureauServiceClient
	st     *store.Store
	target Target

	// pollMu makes polls one at a time (Run and SyncNow may race).
	pollMu sync.Mutex
	feed   []knowledge.PhysicianEvent // stored feed, in seq order
	cursor int64

	mu     sync.Mutex
	status Status
	// lastOK is the last success (or the start) in Unix nanoseconds: the
	// one source of lag and staleness, read on every check.
	lastOK atomic.Int64
}

// Stale reports whether the last successful sync is older than StaleAfter.
// It is cheap enough for the request path.
func (c *Client) Stale() bool { return c.lag() > c.opts.StaleAfter }

// New prepares a client over conn (the caller dials and closes it). It
// loads the stored feed into the target, so the sidecar folds it before the
// first poll, and the persisted sync state.
func New(ctx context.Context, addr string, conn *grpc.ClientConn, st *store.Store, target Target, opts Options) (*Client, error) {
	opts.defaults()
	if len(opts.Trusted) == 0 {
		return nil, errors.New("bureau sync needs at least one trusted publisher key (bureau.trusted_keys)")
	}
	c := &Client{opts: opts, addr: addr, conn: conn, bureau: bureauv1.NewBureauServiceClient(conn), st: st, target: target}
	events, cursor, err := st.PhysicianEvents(ctx)
	if err != nil {
		return nil, err
	}
	c.feed, c.cursor = events, cursor
	if len(events) > 0 {
		target.SetPhysicianFeed(events)
	}
	c.status = Status{Bureau: addr, FeedCursor: cursor}
	if doc, err := st.SyncState(ctx); err != nil {
		return nil, err
	} else if doc != nil {
		var p persisted
		if json.Unmarshal(doc, &p) == nil {
			c.status.LastSuccess, c.status.BureauLatest = p.LastSuccess, p.BureauLatest
		}
	}
	c.lastOK.Store(opts.Now().UnixNano())
	if !c.status.LastSuccess.IsZero() {
		c.lastOK.Store(c.status.LastSuccess.UnixNano())
	}
	if m, ok, err := st.Active(ctx); err == nil && ok {
		c.status.ActiveVersion = m.Version
	}
	return c, nil
}

// PollInterval is the configured interval between successful polls.
func (c *Client) PollInterval() time.Duration { return c.opts.PollInterval }

// Status returns the current sync state.
func (c *Client) Status() Status {
	c.mu.Lock()
	s := c.status
	c.mu.Unlock()
	s.LagSeconds = c.lag().Seconds()
	s.Stale = c.Stale()
	return s
}

// lag is the time since the last success (since start if none).
func (c *Client) lag() time.Duration {
	return time.Duration(c.opts.Now().UnixNano() - c.lastOK.Load())
}

// Run polls until ctx ends: at once, then every PollInterval (±20%), or
// after an exponential backoff (with full jitter) while polls fail.
func (c *Client) Run(ctx context.Context) {
	failures := 0
	for {
		err := c.SyncNow(ctx)
		if ctx.Err() != nil {
			return
		}
		var wait time.Duration
		if err != nil {
			failures++
			// Doubling from max(1 s, interval/4), capped, with jitter over
			// its upper half: a bureau coming back is not hit by every
			// sidecar at once.
			base := max(time.Second, c.opts.PollInterval/4)
			backoff := min(base<<min(failures-1, 20), c.opts.MaxBackoff)
			wait = backoff/2 + rand.N(backoff/2+1)
			c.opts.Logger.Warn("bureau sync failed; serving the last good release", "bureau", c.addr, "err", err,
				"consecutive_failures", failures, "retry_in", wait.Round(time.Millisecond))
		} else {
			failures = 0
			wait = jitter(c.opts.PollInterval)
		}
		c.mu.Lock()
		c.status.NextPoll = c.opts.Now().Add(wait)
		c.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// jitter spreads d over ±20% so that a hospital's sidecars do not poll the
// bureau in lockstep.
func jitter(d time.Duration) time.Duration {
	return d*8/10 + rand.N(d*4/10+1)
}

// SyncNow polls once: the release, then the physician feed.
func (c *Client) SyncNow(ctx context.Context) error {
	c.pollMu.Lock()
	defer c.pollMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, c.opts.CallTimeout)
	defer cancel()
	now := c.opts.Now()
	c.mu.Lock()
	c.status.LastAttempt = now
	c.mu.Unlock()

	err := c.syncRelease(ctx)
	if err == nil {
		err = c.syncFeed(ctx)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.status.LastError, c.status.LastErrorAt = err.Error(), c.opts.Now()
		c.status.ConsecutiveFailures++
		c.status.Failures++
		return err
	}
	c.status.LastError = ""
	c.status.ConsecutiveFailures = 0
	c.status.LastSuccess = c.opts.Now()
	c.lastOK.Store(c.status.LastSuccess.UnixNano())
	doc, _ := json.Marshal(persisted{LastSuccess: c.status.LastSuccess, BureauLatest: c.status.BureauLatest})
	if perr := c.st.PutSyncState(context.WithoutCancel(ctx), doc); perr != nil {
		c.opts.Logger.Warn("could not persist the sync state (staleness after a restart will count from the restart)", "err", perr)
	}
	return nil
}

func (c *Client) syncRelease(ctx context.Context) error {
	active, haveActive, err := c.st.Active(ctx)
	if err != nil {
		return err
	}
	latest, err := c.bureau.GetLatestRelease(ctx, &bureauv1.GetLatestReleaseRequest{HaveVersion: active.Version})
	if err != nil {
		return fmt.Errorf("ask bureau %s for its latest release: %w", c.addr, err)
	}
	lm, err := wire.ManifestFromProto(latest.GetManifest())
	if err != nil {
		return fmt.Errorf("bureau %s latest release: %w", c.addr, err)
	}
	c.mu.Lock()
	c.status.BureauLatest, c.status.VersionsBehind, c.status.ActiveVersion = lm.Version, int(latest.GetVersionsBehind()), active.Version
	c.mu.Unlock()
	if haveActive && lm.Version == active.Version && lm.ContentSHA256 == active.ContentSHA256 {
		c.setBehind(0)
		return nil
	}
	if err := knowledge.VerifyManifest(lm, c.opts.Trusted); err != nil {
		return fmt.Errorf("bureau %s offers %w", c.addr, err)
	}
	now := c.opts.Now()
	if err := CheckCreated(lm, now, c.opts.MaxClockSkew); err != nil {
		return fmt.Errorf("bureau %s offers a release it should not have published, nothing written: %w", c.addr, err)
	}
	if haveActive && active.Signature != "" && lm.Created.Before(active.Created) {
		if CheckCreated(active, now, c.opts.MaxClockSkew) != nil {
			// Installed by an rxguard without the date check, or while
			// this host's clock was wrong: its date would hold every
			// release back. Only the operator can tell which, so say how.
			return fmt.Errorf("bureau %s offers release %s created %s, older than the active %s, which is created %s, more than %s after this host's clock: "+
				"a forged or misdated release (or a clock that is wrong now) holds back every genuine release; refusing to go back on my own. "+
				"Check the clock; to recover, stop the sidecar, install a release you trust with `rxguard kb import-release -trusted-key KEY FILE.rxrel` "+
				"(it replaces the active release whatever its date) and start the sidecar again",
				c.addr, lm.Version, lm.Created.Format(time.RFC3339), active.Version, active.Created.Format(time.RFC3339), c.opts.MaxClockSkew)
		}
		return fmt.Errorf("bureau %s offers release %s created %s, older than the active %s (%s): refusing to go back; "+
			"if the bureau really withdrew %s, import %s with `rxguard kb import-release`",
			c.addr, lm.Version, lm.Created.Format(time.RFC3339), active.Version, active.Created.Format(time.RFC3339), active.Version, lm.Version)
	}
	// Not even fetched while the store refuses writes (disk nearly full):
	// the poll fails, and the backoff retries it until there is room.
	if err := c.st.Writable(); err != nil {
		return fmt.Errorf("release %s not installed, retried later: %w", lm.Version, err)
	}
	start := time.Now()
	c.opts.Logger.Info("fetching release from the bureau", "version", lm.Version, "have", active.Version)
	stream, err := c.bureau.FetchRelease(ctx, &bureauv1.FetchReleaseRequest{
		Version: lm.Version, HaveVersion: active.Version, HaveContentSha256: active.ContentSHA256,
	})
	if err != nil {
		return fmt.Errorf("fetch release %s from %s: %w", lm.Version, c.addr, err)
	}
	rel, err := wire.Receive(func() (*bureauv1.ReleaseChunk, error) {
		r, err := stream.Recv()
		if err != nil {
			return nil, err
		}
		return r.GetChunk(), nil
	}, c.opts.Limits)
	if err != nil {
		return fmt.Errorf("fetch release %s from %s: %w", lm.Version, c.addr, err)
	}
	// The stream's manifest is the one checked above (its date too).
	if rel.Manifest.Version != lm.Version || rel.Manifest.ContentSHA256 != lm.ContentSHA256 || !rel.Manifest.Created.Equal(lm.Created) {
		return fmt.Errorf("bureau %s sent release %s when %s was asked for", c.addr, rel.Manifest.Version, lm.Version)
	}
	m := rel.Manifest
	if rel.Kind == bureauv1.ReleaseKind_RELEASE_KIND_DELTA {
		var d store.Delta
		if d, err = PrepareDelta(ctx, c.st, rel, c.opts.Trusted); err != nil {
			return fmt.Errorf("release %s from %s rejected, nothing written: %w", lm.Version, c.addr, err)
		}
		// The store proves the content as it applies the delta: what it
		// refuses is refused as Prepare refuses it, with nothing written.
		err = c.target.InstallDelta(ctx, m, d)
		if r := Refused(err); r != nil {
			return fmt.Errorf("release %s from %s rejected, nothing written: %w", lm.Version, c.addr, r)
		}
	} else {
		var records []knowledge.Record
		if _, records, err = Prepare(rel, c.opts.Trusted); err != nil {
			return fmt.Errorf("release %s from %s rejected, nothing written: %w", lm.Version, c.addr, err)
		}
		err = c.target.InstallRelease(ctx, m, records)
	}
	if err != nil {
		return fmt.Errorf("install release %s: %w", m.Version, err)
	}
	took := time.Since(start)
	kind := "full"
	if rel.Kind == bureauv1.ReleaseKind_RELEASE_KIND_DELTA {
		kind = "delta"
	}
	c.opts.Logger.Info("bureau release installed", "version", m.Version, "from", active.Version, "kind", kind,
		"operations", len(rel.Ops), "records", m.RecordCount, "took", took.Round(time.Millisecond))
	c.mu.Lock()
	c.status.ActiveVersion = m.Version
	c.status.ReleasesApplied++
	c.status.LastApply = took.Round(time.Millisecond).String()
	c.mu.Unlock()
	c.setBehind(0)
	return nil
}

func (c *Client) setBehind(n int) {
	c.mu.Lock()
	c.status.VersionsBehind = n
	c.mu.Unlock()
}

// Prepare turns a received full release into the records it describes
// and proves them (signature against trusted, content hash, counts)
// without writing anything. A delta is proven by PrepareDelta and the
// store as it is applied (store.ApplyDelta).
func Prepare(rel *wire.Release, trusted []ed25519.PublicKey) (knowledge.Manifest, []knowledge.Record, error) {
	// The signature first: an unsigned or foreign release costs nothing
	// more to reject.
	if err := knowledge.VerifyManifest(rel.Manifest, trusted); err != nil {
		return rel.Manifest, nil, err
	}
	if rel.Kind != bureauv1.ReleaseKind_RELEASE_KIND_FULL {
		return rel.Manifest, nil, fmt.Errorf("%w: release %s is a delta; it is applied to the store's active release (PrepareDelta)", wire.ErrMalformed, rel.Manifest.Version)
	}
	records, err := rel.Apply("", "", nil)
	if err != nil {
		return rel.Manifest, nil, err
	}
	return rel.Manifest, records, nil
}

// PrepareDelta proves what a delta's content does not need for it: its
// signature against trusted, and that it is against the store's active
// release. It returns the delta's operations as the store applies them
// (store.ApplyDelta), which proves the result against the manifest.
func PrepareDelta(ctx context.Context, st *store.Store, rel *wire.Release, trusted []ed25519.PublicKey) (store.Delta, error) {
	if err := knowledge.VerifyManifest(rel.Manifest, trusted); err != nil {
		return store.Delta{}, err
	}
	if rel.Kind != bureauv1.ReleaseKind_RELEASE_KIND_DELTA {
		return store.Delta{}, fmt.Errorf("%w: release %s is not a delta", wire.ErrMalformed, rel.Manifest.Version)
	}
	active, ok, err := st.Active(ctx)
	if err != nil {
		return store.Delta{}, err
	}
	if !ok {
		return store.Delta{}, fmt.Errorf("%w: release %s is a delta against %s, and no release is active here; import the full release",
			wire.ErrBase, rel.Manifest.Version, rel.BaseVersion)
	}
	if rel.BaseVersion != active.Version || rel.BaseSHA256 != active.ContentSHA256 {
		return store.Delta{}, fmt.Errorf("%w: release %s is a delta against %s (sha256 %.12s…), but the active release here is %s (sha256 %.12s…); fetch the full release or the delta against %s",
			wire.ErrBase, rel.Manifest.Version, rel.BaseVersion, rel.BaseSHA256, active.Version, active.ContentSHA256, active.Version)
	}
	ops, err := rel.SortedOps()
	if err != nil {
		return store.Delta{}, err
	}
	return store.Delta{Base: active.Version, BaseSHA256: active.ContentSHA256, Changes: Changes(ops)}, nil
}

// Refused is err as wire reports a release it refuses (wire.ErrContent,
// wire.ErrBase) when it is store.ApplyDelta refusing a delta's content,
// with nothing written; nil for any other error.
func Refused(err error) error {
	switch {
	case errors.Is(err, store.ErrInvalidRelease):
		return fmt.Errorf("%w: %w", wire.ErrContent, err)
	case errors.Is(err, store.ErrDeltaBase):
		return fmt.Errorf("%w: %w", wire.ErrBase, err)
	}
	return nil
}

// Changes is a delta's operations as the store's changes.
func Changes(ops []wire.Op) []store.Change {
	out := make([]store.Change, len(ops))
	for i, op := range ops {
		kind := store.ChangeKind(0) // refused by the store
		switch op.Kind {
		case bureauv1.OpKind_OP_KIND_ADD:
			kind = store.ChangeAdd
		case bureauv1.OpKind_OP_KIND_REPLACE:
			kind = store.ChangeReplace
		case bureauv1.OpKind_OP_KIND_DELETE:
			kind = store.ChangeDelete
		}
		out[i] = store.Change{Kind: kind, Record: op.Record}
	}
	return out
}

// feedPage bounds one ListPhysicianEvents call.
const feedPage = 1000

func (c *Client) syncFeed(ctx context.Context) error {
	for {
		resp, err := c.bureau.ListPhysicianEvents(ctx, &bureauv1.ListPhysicianEventsRequest{AfterSeq: c.cursor, Limit: feedPage})
		if err != nil {
			return fmt.Errorf("physician feed after seq %d from %s: %w", c.cursor, c.addr, err)
		}
		c.mu.Lock()
		c.status.BureauLastSeq = resp.GetLastSeq()
		c.mu.Unlock()
		if resp.GetLastSeq() < c.cursor {
			// Our events came from another feed (another bureau, or one
			// that was reset): folding new events onto them would be wrong.
			return fmt.Errorf("bureau %s feed ends at seq %d, but this sidecar has stored events up to %d: the feed was reset or "+
				"the sidecar points at another bureau; keep the stored events (nothing changed) and check bureau.address", c.addr, resp.GetLastSeq(), c.cursor)
		}
		if len(resp.GetEvents()) == 0 {
			return nil
		}
		events, err := wire.EventPage(c.cursor, resp, c.opts.Trusted)
		if err != nil {
			return fmt.Errorf("physician feed from %s rejected, nothing written: %w", c.addr, err)
		}
		for i := range events {
			events[i].Source = knowledge.Source{Batch: "医保支付资格记分", File: "bureau " + c.addr, Row: int(events[i].Seq)}
		}
		cursor, err := c.st.AppendPhysicianEvents(ctx, c.cursor, events)
		if err != nil {
			return err
		}
		c.cursor = cursor
		// Clip: the engine keeps the slice, and the next append must not
		// write into its backing array.
		c.feed = slices.Clip(append(c.feed, events...))
		c.target.SetPhysicianFeed(c.feed)
		c.mu.Lock()
		c.status.FeedCursor = cursor
		c.mu.Unlock()
		c.opts.Logger.Info("physician status events stored", "count", len(events), "cursor", cursor, "bureau_last_seq", resp.GetLastSeq())
		if cursor >= resp.GetLastSeq() {
			return nil
		}
	}
}
