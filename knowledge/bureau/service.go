package bureau

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	bureauv1 "github.com/rxguard/rxguard/gen/rxguard/bureau/v1"
	"github.com/rxguard/rxguard/knowledge"
	"github.com/rxguard/rxguard/knowledge/wire"
)

const (
	defaultEventLimit = 1000
	maxEventLimit     = 10_000
	// maxBatchSize keeps a FetchRelease message well under gRPC's default
	// 4 MiB receive limit for records of ordinary size.
	maxBatchSize = 4096
)

var errNoRelease = status.Error(codes.NotFound, "the bureau holds no release yet; publish one with `rxguard bureau publish <file.rxrel>`")

// GetLatestRelease names the latest release and how many releases were
// published after the caller's.
func (s *Server) GetLatestRelease(_ context.Context, req *bureauv1.GetLatestReleaseRequest) (*bureauv1.GetLatestReleaseResponse, error) {
	snap := s.current()
	latest, ok := snap.latest()
	if !ok {
		return nil, errNoRelease
	}
	behind := int32(-1)
	if _, i, ok := snap.get(req.GetHaveVersion()); ok {
		behind = int32(len(snap.order) - 1 - i)
	}
	return &bureauv1.GetLatestReleaseResponse{Manifest: wire.ManifestToProto(latest.manifest), VersionsBehind: behind}, nil
}

// FetchRelease streams the requested release: a delta when the caller holds
// a release the bureau also holds, with the same content, full otherwise.
func (s *Server) FetchRelease(req *bureauv1.FetchReleaseRequest, stream grpc.ServerStreamingServer[bureauv1.FetchReleaseResponse]) error {
	if req.GetBatchSize() < 0 {
		return status.Errorf(codes.InvalidArgument, "batch_size %d is negative (0 means the bureau's default)", req.GetBatchSize())
	}
	snap := s.current()
	var target *release
	if req.GetVersion() == "" {
		var ok bool
		if target, ok = snap.latest(); !ok {
			return errNoRelease
		}
	} else {
		var ok bool
		if target, _, ok = snap.get(req.GetVersion()); !ok {
			return status.Errorf(codes.NotFound, "the bureau has no release %q (GetLatestRelease names the latest)", req.GetVersion())
		}
	}
	rel := &wire.Release{Manifest: target.manifest, Kind: bureauv1.ReleaseKind_RELEASE_KIND_FULL}
	// The have hash guards against a sidecar whose release carries the
	// version name but not the content the bureau published under it.
	if have, _, ok := snap.get(req.GetHaveVersion()); ok && have != target && have.manifest.ContentSHA256 == req.GetHaveContentSha256() {
		rel.Kind = bureauv1.ReleaseKind_RELEASE_KIND_DELTA
		rel.BaseVersion, rel.BaseSHA256 = have.manifest.Version, have.manifest.ContentSHA256
		rel.Ops = wire.Diff(have.records, target.records)
	} else {
		rel.Ops = wire.FullOps(target.records)
	}
	batch := min(int(req.GetBatchSize()), maxBatchSize)
	if err := wire.Send(rel, batch, func(c *bureauv1.ReleaseChunk) error {
		return stream.Send(&bureauv1.FetchReleaseResponse{Chunk: c})
	}); err != nil {
		return err
	}
	s.log.Info("release sent", "version", target.manifest.Version, "kind", rel.Kind.String(), "base", rel.BaseVersion, "ops", len(rel.Ops))
	return nil
}

// ListPhysicianEvents returns a signed page of the feed after a cursor. A
// cursor past the newest event gets an empty page with last_seq, which
// tells the caller its cursor belongs to another feed.
func (s *Server) ListPhysicianEvents(_ context.Context, req *bureauv1.ListPhysicianEventsRequest) (*bureauv1.ListPhysicianEventsResponse, error) {
	after, limit := req.GetAfterSeq(), int64(req.GetLimit())
	if after < 0 {
		return nil, status.Errorf(codes.InvalidArgument, "after_seq %d is negative (0 starts at the beginning of the feed)", after)
	}
	switch {
	case limit < 0:
		return nil, status.Errorf(codes.InvalidArgument, "limit %d is negative (0 means the bureau's default of %d)", limit, defaultEventLimit)
	case limit == 0:
		limit = defaultEventLimit
	case limit > maxEventLimit:
		limit = maxEventLimit
	}
	events := s.feed.snapshot()
	last := int64(len(events))
	var page []knowledge.PhysicianEvent
	if after < last {
		page = events[after:min(last, after+limit)]
	}
	sig, err := knowledge.SignEventPage(after, page, s.key)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "sign event page: %v", err)
	}
	resp := &bureauv1.ListPhysicianEventsResponse{LastSeq: last, Signature: sig, Events: make([]*bureauv1.PhysicianEvent, len(page))}
	for i, e := range page {
		resp.Events[i] = wire.EventToProto(e)
	}
	return resp, nil
}

// PublishRelease receives a release signed by a publisher key, proves its
// content, stores it as signed and makes it the latest. It never signs
// what it receives: an unsigned or foreign release is refused, as is one
// created further after the bureau's clock than the skew allows.
func (s *Server) PublishRelease(stream grpc.ClientStreamingServer[bureauv1.PublishReleaseRequest, bureauv1.PublishReleaseResponse]) error {
	rel, err := wire.Receive(func() (*bureauv1.ReleaseChunk, error) {
		req, err := stream.Recv()
		if err != nil {
			return nil, err
		}
		return req.GetChunk(), nil
	}, wire.DefaultLimits())
	if err != nil {
		return wireStatus(err)
	}
	m := rel.Manifest
	if err := checkVersion(m.Version); err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	if err := s.checkPublisher(m); err != nil {
		return err
	}

	s.publishMu.Lock()
	defer s.publishMu.Unlock()
	snap := s.current()
	var baseVersion, baseSHA string
	var base []knowledge.Record
	if rel.Kind == bureauv1.ReleaseKind_RELEASE_KIND_DELTA {
		b, _, ok := snap.get(rel.BaseVersion)
		if !ok {
			return status.Errorf(codes.FailedPrecondition,
				"release %s is a delta against %s, which this bureau does not hold; publish %s first, or publish %s as a full release",
				m.Version, rel.BaseVersion, rel.BaseVersion, m.Version)
		}
		baseVersion, baseSHA, base = b.manifest.Version, b.manifest.ContentSHA256, b.records
	}
	records, err := rel.Apply(baseVersion, baseSHA, base)
	if err != nil {
		return wireStatus(err)
	}
	if have, _, ok := snap.get(m.Version); ok {
		if have.manifest.ContentSHA256 != m.ContentSHA256 {
			return status.Errorf(codes.AlreadyExists,
				"the bureau already has release %s with other content (sha256 %s…, this one %s…); publish under a new version",
				m.Version, have.manifest.ContentSHA256[:12], m.ContentSHA256[:12])
		}
		return stream.SendAndClose(&bureauv1.PublishReleaseResponse{Manifest: wire.ManifestToProto(have.manifest), Path: have.path})
	}

	stored := &wire.Release{Manifest: m, Kind: rel.Kind, BaseVersion: rel.BaseVersion, BaseSHA256: rel.BaseSHA256, Ops: rel.Ops}
	path := s.releasePath(m.Version)
	if err := wire.WriteFile(path, stored); err != nil {
		return status.Errorf(codes.Internal, "store release %s: %v", m.Version, err)
	}
	r := &release{manifest: m, records: records, path: path}
	next := snap.with(r)
	if err := s.writeOrder(next.versions()); err != nil {
		_ = os.Remove(path)
		return status.Errorf(codes.Internal, "publish release %s: %v", m.Version, err)
	}
	s.mu.Lock()
	s.snap = next
	s.mu.Unlock()
	s.log.Info("release published", "version", m.Version, "kind", rel.Kind.String(), "base", rel.BaseVersion,
		"ops", len(rel.Ops), "records", m.RecordCount, "sha256", m.ContentSHA256, "path", path)
	return stream.SendAndClose(&bureauv1.PublishReleaseResponse{Manifest: wire.ManifestToProto(m), Path: path})
}

// checkPublisher admits a manifest signed by a publisher key and created
// no further after the bureau's clock than the skew. Both come before the
// operations are applied to a base or anything is stored.
func (s *Server) checkPublisher(m knowledge.Manifest) error {
	if err := knowledge.VerifyManifest(m, s.publishers); err != nil {
		return status.Errorf(codes.PermissionDenied,
			"%v; this bureau publishes only releases signed by its publisher keys [%s] and serves them as signed, it never signs them itself: "+
				"sign the release with a publisher key (`rxguard kb release -key KEYFILE`), or start the bureau with that key's public half as -publisher-key",
			err, keyIDs(s.publishers))
	}
	now := s.now()
	if ahead := m.Created.Sub(now); ahead > s.skew {
		return status.Errorf(codes.InvalidArgument,
			"release %s is created %s, %s after this bureau's clock (%s; at most %s is allowed): sidecars refuse a release from the future, "+
				"and one that held it would refuse as a rollback every genuine release created before that date; check the publisher's clock and build the release again",
			m.Version, m.Created.Format(time.RFC3339), ahead.Round(time.Second), now.UTC().Format(time.RFC3339), s.skew)
	}
	return nil
}

func keyIDs(keys []ed25519.PublicKey) string {
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = knowledge.KeyID(k)
	}
	return strings.Join(ids, " ")
}

// wireStatus maps what wire reports to the code a publisher can act on.
func wireStatus(err error) error {
	switch {
	case errors.Is(err, wire.ErrBase):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, wire.ErrMalformed), errors.Is(err, wire.ErrTruncated), errors.Is(err, wire.ErrContent):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, io.EOF):
		return status.Error(codes.InvalidArgument, "release stream ended early")
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	if st := status.FromContextError(err); st.Code() != codes.Unknown {
		return st.Err()
	}
	return status.Error(codes.Internal, err.Error())
}

// PublishPhysicianEvents appends a batch of events signed by a publisher
// key to the feed, numbering them after the newest, which must be the
// batch's after_seq. Either every event is appended or none is.
func (s *Server) PublishPhysicianEvents(_ context.Context, req *bureauv1.PublishPhysicianEventsRequest) (*bureauv1.PublishPhysicianEventsResponse, error) {
	n := len(req.GetEvents())
	if n == 0 {
		return nil, status.Error(codes.InvalidArgument, "no events to publish")
	}
	if n > maxEventLimit {
		return nil, status.Errorf(codes.InvalidArgument, "%d events in one call; publish at most %d at a time", n, maxEventLimit)
	}
	events := make([]knowledge.PhysicianEvent, n)
	for i, p := range req.GetEvents() {
		// seq is the bureau's to assign; what the publisher sent would only
		// confuse the error message.
		p = proto.CloneOf(p)
		p.Seq = 0
		e, err := wire.EventFromProto(p)
		if err != nil {
			return nil, badEvent(i, err)
		}
		events[i] = e
	}
	after := req.GetAfterSeq()
	if err := knowledge.VerifyEventBatch(after, events, req.GetSignature(), s.publishers); err != nil {
		return nil, status.Errorf(codes.PermissionDenied,
			"%v; this bureau publishes only event batches signed by its publisher keys [%s]: sign them with `rxguard bureau publish-events -key KEYFILE`; nothing was published",
			err, keyIDs(s.publishers))
	}
	first, last, err := s.feed.append(after, events)
	var moved *feedMovedError
	if errors.As(err, &moved) {
		return nil, status.Errorf(codes.FailedPrecondition,
			"the batch was signed to follow seq %d, and the feed's newest event is seq %d: it was published already, or another publisher got there first; "+
				"sign the events again after seq %d (`rxguard bureau publish-events` does); nothing was published", after, moved.last, moved.last)
	}
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	s.log.Info("physician events published", "first_seq", first, "last_seq", last)
	return &bureauv1.PublishPhysicianEventsResponse{FirstSeq: first, LastSeq: last}, nil
}

func badEvent(i int, err error) error {
	field := fmt.Sprintf("events[%d]", i)
	msg := strings.TrimPrefix(err.Error(), "event seq 0: ")
	st := status.New(codes.InvalidArgument, fmt.Sprintf("%s: %s; nothing was published", field, msg))
	if d, derr := st.WithDetails(&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: field, Description: msg}}}); derr == nil {
		st = d
	}
	return st.Err()
}
