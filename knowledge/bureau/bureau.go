// Package bureau is rxguard's reference bureau: it serves a directory of
// signed releases and a physician-status event feed over rxguard.bureau.v1,
// and takes new ones through the admin service. Tests, demos and hospitals'
// staging run it; it is also the protocol's executable documentation.
//
// Directory layout:
//
//	<dir>/releases/<version>.rxrel  release files (full or delta), as their publisher signed them
//	<dir>/releases/ORDER            versions in publication order, one per line; the last is the latest
//	<dir>/events.jsonl              the feed: one JSON knowledge.PhysicianEvent per line, seq 1, 2, 3, …
//
// Publication order is kept in ORDER rather than derived from manifests'
// Created times, because publishers' clocks (and the Created of a release
// built long before it is published) say nothing about when the bureau made
// it the latest. ORDER is rewritten atomically after a release file is in
// place; a release file ORDER does not list (a publish interrupted between
// the two) is appended by Created time when the bureau opens.
//
// Trust: the bureau never signs what it is handed. A release (or a batch
// of physician events) is published only when it is signed by one of the
// publisher keys (Options.Publishers; by default the bureau's own key, so
// `rxguard kb release -key <the bureau's key>` writes files it accepts),
// and a release is served with its publisher's signature as is. The
// bureau's own key signs the feed pages it serves and the demo release it
// seeds. Sidecars pin the bureau's key and every publisher key.
package bureau

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"

	bureauv1 "github.com/rxguard/rxguard/gen/rxguard/bureau/v1"
	"github.com/rxguard/rxguard/internal/auth"
	"github.com/rxguard/rxguard/internal/tlsreload"
	"github.com/rxguard/rxguard/knowledge"
	"github.com/rxguard/rxguard/knowledge/demo"
	"github.com/rxguard/rxguard/knowledge/wire"
)

const (
	releasesDir = "releases"
	orderFile   = "ORDER"
	releaseExt  = ".rxrel"
	eventsFile  = "events.jsonl"

	// maxAdminRecvBytes admits one release-file chunk (wire's own bound)
	// per PublishRelease message.
	maxAdminRecvBytes = 64 << 20

	// DefaultMaxClockSkew is how far after the bureau's clock a published
	// release's Created may be: room for a publisher's clock a little
	// ahead, not for a date that would make sidecars refuse (as a
	// rollback) every genuine release created before it.
	DefaultMaxClockSkew = 15 * time.Minute
)

// Options configure Open.
type Options struct {
	// Dir holds the releases and the event feed; it is created if missing.
	Dir string
	// Key signs the event pages the bureau serves and the demo release it
	// seeds; its public half is what sidecars pin for them.
	Key ed25519.PrivateKey
	// Publishers are the keys the admin service accepts: a published
	// release's manifest and a published event batch must be signed by
	// one of them. Empty: Key's public half alone. Releases are served as
	// their publisher signed them, so sidecars pin these keys too.
	Publishers []ed25519.PublicKey
	// MaxClockSkew bounds how far after the bureau's clock a published
	// release's Created may be (default DefaultMaxClockSkew).
	MaxClockSkew time.Duration
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Demo seeds an empty Dir (no releases, no events) with the embedded
	// demo release and the demo physician events.
	Demo bool
	// Admin is the admin listener's TLS and authentication. Publisher
	// signatures prove what is published; these decide who may call.
	Admin AdminSecurity
}

// AdminSecurity is the admin listener's TLS and credentials.
type AdminSecurity struct {
	// TLS serves the admin listener over TLS (nil: plaintext).
	TLS *tlsreload.Server
	// Auth requires role admin for publishing (nil: anyone who reaches
	// the listener may call, which Serve allows on loopback only).
	Auth *auth.Authenticator
}

// adminMethodRoles is who may call what on the admin listener: publishing
// needs role admin; the read-only BureauService (which publishers read the
// feed's head from) and reflection are public data.
var adminMethodRoles = auth.MethodRoles{
	bureauv1.BureauAdminService_PublishRelease_FullMethodName:              auth.Admin,
	bureauv1.BureauAdminService_PublishPhysicianEvents_FullMethodName:      auth.Admin,
	bureauv1.BureauService_GetLatestRelease_FullMethodName:                 auth.Public,
	bureauv1.BureauService_FetchRelease_FullMethodName:                     auth.Public,
	bureauv1.BureauService_ListPhysicianEvents_FullMethodName:              auth.Public,
	reflectionv1.ServerReflection_ServerReflectionInfo_FullMethodName:      auth.Public,
	reflectionv1alpha.ServerReflection_ServerReflectionInfo_FullMethodName: auth.Public,
}

// Server is a reference bureau. It implements bureauv1.BureauServiceServer
// and bureauv1.BureauAdminServiceServer and is safe for concurrent use.
type Server struct {
	bureauv1.UnimplementedBureauServiceServer
	bureauv1.UnimplementedBureauAdminServiceServer

	dir string
	key ed25519.PrivateKey
	pub ed25519.PublicKey
	log *slog.Logger
	// publishers sign what the admin service accepts; served adds the
	// bureau's own key, which signed the seeded demo release.
	publishers []ed25519.PublicKey
	served     []ed25519.PublicKey
	skew       time.Duration
	now        func() time.Time

	// publishMu serialises PublishRelease (check, write, reorder); mu
	// guards the pointer to the current snapshot, which is never modified
	// once published, so fetches run on it without holding any lock.
	publishMu sync.Mutex
	mu        sync.RWMutex
	snap      *snapshot

	feed feed

	admin AdminSecurity
}

// release is one release as the bureau serves it: the signed manifest and
// its full sorted records (a stored delta is materialised at load).
type release struct {
	manifest knowledge.Manifest
	records  []knowledge.Record
	path     string
}

// snapshot is the immutable list of releases in publication order.
type snapshot struct {
	order []*release
	index map[string]int // version → position in order
}

func (s *snapshot) get(version string) (*release, int, bool) {
	i, ok := s.index[version]
	if !ok {
		return nil, 0, false
	}
	return s.order[i], i, true
}

func (s *snapshot) latest() (*release, bool) {
	if len(s.order) == 0 {
		return nil, false
	}
	return s.order[len(s.order)-1], true
}

func (s *snapshot) with(r *release) *snapshot {
	n := &snapshot{order: append(slices.Clip(s.order), r), index: make(map[string]int, len(s.index)+1)}
	for v, i := range s.index {
		n.index[v] = i
	}
	n.index[r.manifest.Version] = len(n.order) - 1
	return n
}

func (s *snapshot) versions() []string {
	vs := make([]string, len(s.order))
	for i, r := range s.order {
		vs[i] = r.manifest.Version
	}
	return vs
}

// Open loads the bureau directory, proving every release against the
// publisher keys and the bureau's own key, and seeds it with the demo when
// asked and empty.
func Open(ctx context.Context, opts Options) (*Server, error) {
	if opts.Dir == "" {
		return nil, errors.New("bureau: no directory given")
	}
	if len(opts.Key) != ed25519.PrivateKeySize {
		return nil, errors.New("bureau: no ed25519 signing key given (create one with `rxguard bureau keygen -out KEYFILE`)")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("bureau directory %s: %w", opts.Dir, err)
	}
	if err := os.MkdirAll(filepath.Join(dir, releasesDir), 0o755); err != nil {
		return nil, fmt.Errorf("bureau directory: %w", err)
	}
	s := &Server{dir: dir, key: opts.Key, pub: opts.Key.Public().(ed25519.PublicKey), log: log,
		skew: cmp.Or(opts.MaxClockSkew, DefaultMaxClockSkew), now: opts.Now, admin: opts.Admin}
	if s.skew < 0 {
		return nil, fmt.Errorf("bureau: negative clock skew %s", opts.MaxClockSkew)
	}
	if s.now == nil {
		s.now = time.Now
	}
	for i, k := range opts.Publishers {
		if len(k) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("bureau: publisher key %d is not an ed25519 public key", i+1)
		}
		if !slices.ContainsFunc(s.publishers, func(p ed25519.PublicKey) bool { return p.Equal(k) }) {
			s.publishers = append(s.publishers, k)
		}
	}
	if len(s.publishers) == 0 {
		s.publishers = []ed25519.PublicKey{s.pub}
	}
	s.served = s.publishers
	if !slices.ContainsFunc(s.served, func(p ed25519.PublicKey) bool { return p.Equal(s.pub) }) {
		s.served = append(slices.Clip(s.served), s.pub)
	}
	s.feed.path = filepath.Join(dir, eventsFile)
	if opts.Demo {
		if err := s.seedDemo(ctx); err != nil {
			return nil, err
		}
	}
	if s.snap, err = s.loadReleases(); err != nil {
		return nil, err
	}
	if err := s.feed.load(log); err != nil {
		return nil, err
	}
	return s, nil
}

// PublicKey is the bureau's own key: it signs the feed pages (and the
// seeded demo release). Sidecars pin it with PublisherKeys.
func (s *Server) PublicKey() ed25519.PublicKey { return s.pub }

// PublisherKeys are the keys published releases and event batches must be
// signed with.
func (s *Server) PublisherKeys() []ed25519.PublicKey { return slices.Clone(s.publishers) }

// Latest returns the latest release's signed manifest, if any.
func (s *Server) Latest() (knowledge.Manifest, bool) {
	r, ok := s.current().latest()
	if !ok {
		return knowledge.Manifest{}, false
	}
	return r.manifest, true
}

// LastEventSeq is the feed's newest sequence number (0: empty feed).
func (s *Server) LastEventSeq() int64 { return int64(len(s.feed.snapshot())) }

func (s *Server) current() *snapshot {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.snap
}

func (s *Server) releasePath(version string) string {
	return filepath.Join(s.dir, releasesDir, version+releaseExt)
}

// checkVersion keeps versions usable as file names: no separators, no
// leading dot (temporary files), nothing a shell or a URL would mangle.
func checkVersion(v string) error {
	if v == "" || len(v) > 128 || v[0] == '.' {
		return fmt.Errorf("release version %q must be 1–128 characters and not start with a dot", v)
	}
	for _, c := range v {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' || c == '+') {
			return fmt.Errorf("release version %q may only contain letters, digits and . _ - +", v)
		}
	}
	return nil
}

func (s *Server) seedDemo(ctx context.Context) error {
	names, err := s.releaseFiles()
	if err != nil {
		return err
	}
	if len(names) > 0 {
		return nil
	}
	if fi, err := os.Stat(s.feed.path); err == nil && fi.Size() > 0 {
		return nil
	}
	m, records, _, err := demo.Release(ctx, time.Now())
	if err != nil {
		return fmt.Errorf("seed bureau with the demo release: %w", err)
	}
	events, err := eventsFromRecords(records)
	if err != nil {
		return fmt.Errorf("seed bureau with the demo events: %w", err)
	}
	if err := s.feed.writeAll(events); err != nil {
		return err
	}
	m, err = knowledge.SignManifest(m, s.key)
	if err != nil {
		return err
	}
	rel := &wire.Release{Manifest: m, Kind: bureauv1.ReleaseKind_RELEASE_KIND_FULL, Ops: wire.FullOps(records)}
	if err := wire.WriteFile(s.releasePath(m.Version), rel); err != nil {
		return err
	}
	if err := s.writeOrder([]string{m.Version}); err != nil {
		return err
	}
	s.log.Info("seeded bureau with the demo release and events", "version", m.Version, "records", m.RecordCount, "events", len(events), "dir", s.dir)
	return nil
}

// eventsFromRecords takes the physician events out of a release's records;
// their keys sort by seq.
func eventsFromRecords(records []knowledge.Record) ([]knowledge.PhysicianEvent, error) {
	var only []knowledge.Record
	for _, r := range records {
		if r.Class == knowledge.ClassPhysicianEvent {
			only = append(only, r)
		}
	}
	c, err := knowledge.ContentFromRecords(only)
	if err != nil {
		return nil, err
	}
	return c.PhysicianEvents, nil
}

// releaseFiles lists the release file names in the releases directory.
// Dot files are temporaries of interrupted writes and are not releases.
func (s *Server) releaseFiles() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(s.dir, releasesDir))
	if err != nil {
		return nil, fmt.Errorf("bureau releases: %w", err)
	}
	var names []string
	for _, e := range entries {
		n := e.Name()
		switch {
		case strings.HasPrefix(n, "."), n == orderFile, e.IsDir():
		case strings.HasSuffix(n, releaseExt):
			names = append(names, n)
		default:
			s.log.Warn("ignoring a file that is not a release in the bureau's releases directory", "file", n)
		}
	}
	return names, nil
}

func (s *Server) loadReleases() (*snapshot, error) {
	names, err := s.releaseFiles()
	if err != nil {
		return nil, err
	}
	files := make(map[string]*wire.Release, len(names))
	for _, n := range names {
		path := filepath.Join(s.dir, releasesDir, n)
		rel, err := wire.ReadFile(path, wire.DefaultLimits())
		if err != nil {
			return nil, fmt.Errorf("bureau: %w; move the file out of %s to start without it", err, filepath.Dir(path))
		}
		v := strings.TrimSuffix(n, releaseExt)
		if rel.Manifest.Version != v {
			return nil, fmt.Errorf("bureau: release file %s holds release %q; a release file must be named <version>%s", path, rel.Manifest.Version, releaseExt)
		}
		if err := checkVersion(v); err != nil {
			return nil, fmt.Errorf("bureau: release file %s: %w", path, err)
		}
		files[v] = rel
	}

	// Materialise every release, bases before the deltas on them, and
	// prove each against the publisher keys and this bureau's own key:
	// what the bureau serves is exactly what a key it trusts signed.
	built := make(map[string]*release, len(files))
	visiting := map[string]bool{}
	var build func(v string) (*release, error)
	build = func(v string) (*release, error) {
		if r := built[v]; r != nil {
			return r, nil
		}
		if visiting[v] {
			return nil, fmt.Errorf("bureau: release %s is, through its delta bases, a delta against itself; remove the damaged release files", v)
		}
		visiting[v] = true
		rel := files[v]
		var baseVersion, baseSHA string
		var base []knowledge.Record
		if rel.Kind == bureauv1.ReleaseKind_RELEASE_KIND_DELTA {
			if files[rel.BaseVersion] == nil {
				return nil, fmt.Errorf("bureau: release %s is a delta against %s, and %s is missing; restore it or remove %s",
					v, rel.BaseVersion, s.releasePath(rel.BaseVersion), s.releasePath(v))
			}
			b, err := build(rel.BaseVersion)
			if err != nil {
				return nil, err
			}
			baseVersion, baseSHA, base = b.manifest.Version, b.manifest.ContentSHA256, b.records
		}
		records, err := rel.Apply(baseVersion, baseSHA, base)
		if err != nil {
			return nil, fmt.Errorf("bureau: release file %s: %w", s.releasePath(v), err)
		}
		if err := knowledge.VerifyManifest(rel.Manifest, s.served); err != nil {
			return nil, fmt.Errorf("bureau: release file %s does not verify against this bureau's key %s or its publisher keys: %w (start the bureau with the key that signed it as a -publisher-key, or move the file away)",
				s.releasePath(v), knowledge.KeyID(s.pub), err)
		}
		if ahead := rel.Manifest.Created.Sub(s.now()); ahead > s.skew {
			s.log.Warn("stored release is dated in the future: sidecars refuse it, and those that hold it refuse every release created before it",
				"version", v, "created", rel.Manifest.Created, "ahead", ahead.Round(time.Second))
		}
		r := &release{manifest: rel.Manifest, records: records, path: s.releasePath(v)}
		built[v] = r
		return r, nil
	}
	for v := range files {
		if _, err := build(v); err != nil {
			return nil, err
		}
	}

	order, err := s.readOrder()
	if err != nil {
		return nil, err
	}
	snap := &snapshot{index: make(map[string]int, len(built))}
	for _, v := range order {
		r := built[v]
		if r == nil {
			return nil, fmt.Errorf("bureau: %s lists %s, but %s is missing; restore the release file or remove the line",
				filepath.Join(s.dir, releasesDir, orderFile), v, s.releasePath(v))
		}
		if _, dup := snap.index[v]; dup {
			return nil, fmt.Errorf("bureau: %s lists %s twice; remove the later line", filepath.Join(s.dir, releasesDir, orderFile), v)
		}
		snap.index[v] = len(snap.order)
		snap.order = append(snap.order, r)
	}
	var unlisted []*release
	for v, r := range built {
		if _, ok := snap.index[v]; !ok {
			unlisted = append(unlisted, r)
		}
	}
	if len(unlisted) > 0 {
		slices.SortFunc(unlisted, func(a, b *release) int {
			return cmp.Or(a.manifest.Created.Compare(b.manifest.Created), cmp.Compare(a.manifest.Version, b.manifest.Version))
		})
		for _, r := range unlisted {
			s.log.Warn("release file not in the publication order; appending it by creation time", "version", r.manifest.Version, "created", r.manifest.Created)
			snap.index[r.manifest.Version] = len(snap.order)
			snap.order = append(snap.order, r)
		}
		if err := s.writeOrder(snap.versions()); err != nil {
			return nil, err
		}
	}
	return snap, nil
}

func (s *Server) readOrder() ([]string, error) {
	b, err := os.ReadFile(filepath.Join(s.dir, releasesDir, orderFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("bureau publication order: %w", err)
	}
	var vs []string
	for _, line := range strings.Split(string(b), "\n") {
		if v := strings.TrimSpace(line); v != "" {
			vs = append(vs, v)
		}
	}
	return vs, nil
}

func (s *Server) writeOrder(versions []string) error {
	var b strings.Builder
	for _, v := range versions {
		b.WriteString(v)
		b.WriteByte('\n')
	}
	if err := writeFileAtomic(filepath.Join(s.dir, releasesDir, orderFile), []byte(b.String())); err != nil {
		return fmt.Errorf("bureau publication order: %w", err)
	}
	return nil
}

// writeFileAtomic replaces path with data so that a crash leaves either the
// old or the new file, and the rename itself is durable.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	// CreateTemp makes 0600 files; ORDER and the feed are ordinary data.
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// ErrAdminNotLoopback: the admin listener is not on a loopback address
// and lacks TLS or authentication. Off loopback the admin service needs
// both: credentials must not cross the network in plaintext, and a
// reachable publish service must know who calls.
var ErrAdminNotLoopback = errors.New("the bureau's admin service listens on loopback only unless it has both TLS and admin credentials")

// Serve runs the public BureauService (with health and reflection) on lis
// and the admin service (with reflection, and BureauService so publishers
// can read the feed's newest seq) on adminLis (nil: no admin service, a
// read-only bureau) until ctx ends, then stops gracefully. An adminLis
// that is not on loopback is refused (ErrAdminNotLoopback).
func (s *Server) Serve(ctx context.Context, lis, adminLis net.Listener) error {
	if adminLis != nil && !isLoopback(adminLis.Addr()) && (s.admin.TLS == nil || s.admin.Auth == nil) {
		return fmt.Errorf("bureau admin listener %s: %w", adminLis.Addr(), ErrAdminNotLoopback)
	}
	public := grpc.NewServer()
	bureauv1.RegisterBureauServiceServer(public, s)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(public, hs)
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus(bureauv1.BureauService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	reflection.Register(public)
	servers := []*grpc.Server{public}

	errc := make(chan error, 2)
	go func() { errc <- public.Serve(lis) }()
	if adminLis != nil {
		opts := []grpc.ServerOption{grpc.MaxRecvMsgSize(maxAdminRecvBytes),
			grpc.ChainUnaryInterceptor(s.admin.Auth.UnaryInterceptor(adminMethodRoles)),
			grpc.ChainStreamInterceptor(s.admin.Auth.StreamInterceptor(adminMethodRoles))}
		if s.admin.TLS != nil {
			opts = append(opts, grpc.Creds(credentials.NewTLS(s.admin.TLS.Config())))
		}
		admin := grpc.NewServer(opts...)
		bureauv1.RegisterBureauAdminServiceServer(admin, s)
		bureauv1.RegisterBureauServiceServer(admin, s)
		// Reflection here too, so that operators can publish with grpcurl.
		reflection.Register(admin)
		servers = append(servers, admin)
		go func() { errc <- admin.Serve(adminLis) }()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		if err != nil {
			err = fmt.Errorf("bureau gRPC: %w", err)
		}
	}
	hs.Shutdown()
	var wg sync.WaitGroup
	for _, g := range servers {
		wg.Go(func() {
			stopped := make(chan struct{})
			go func() { g.GracefulStop(); close(stopped) }()
			select {
			case <-stopped:
			case <-time.After(5 * time.Second):
				g.Stop()
			}
		})
	}
	wg.Wait()
	return err
}

// isLoopback reports whether a is a TCP address on a loopback interface.
func isLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}
