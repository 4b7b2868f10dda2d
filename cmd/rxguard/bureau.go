package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"

	bureauv1 "github.com/rxguard/rxguard/gen/rxguard/bureau/v1"
	"github.com/rxguard/rxguard/internal/auth"
	"github.com/rxguard/rxguard/internal/tlsreload"
	"github.com/rxguard/rxguard/knowledge"
	"github.com/rxguard/rxguard/knowledge/bureau"
	"github.com/rxguard/rxguard/knowledge/wire"
)

// Default listeners of the reference bureau.
const (
	defaultBureauAddr      = "127.0.0.1:7700"
	defaultBureauAdminAddr = "127.0.0.1:7701"
)

// maxEventsPerCall matches what the bureau takes in one
// PublishPhysicianEvents call.
const maxEventsPerCall = 10_000

func cmdBureau(ctx context.Context, args []string, log *slog.Logger, stdout, stderr io.Writer) error {
	sub := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, args = args[0], args[1:]
	}
	switch sub {
	case "serve":
		return cmdBureauServe(ctx, args, log, stderr)
	case "keygen":
		return cmdBureauKeygen(args, stdout, stderr)
	case "publish":
		return cmdBureauPublish(ctx, args, stdout, stderr)
	case "publish-events":
		return cmdBureauPublishEvents(ctx, args, stdout, stderr)
	}
	return usageError{"unknown bureau subcommand " + sub + " (serve, keygen, publish, publish-events)"}
}

func cmdBureauServe(ctx context.Context, args []string, log *slog.Logger, stderr io.Writer) error {
	fs := flag.NewFlagSet("bureau serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "bureau", "bureau directory: releases/ and events.jsonl")
	keyFile := fs.String("key", "", "signing key file (create one with 'rxguard bureau keygen -out KEYFILE'); signs the event feed and the seeded demo release")
	var publisherKeys stringList
	fs.Var(&publisherKeys, "publisher-key", "public key (base64 or hex) whose signed releases and event batches the admin service accepts; repeatable; default: the public half of -key")
	skew := fs.Duration("max-clock-skew", bureau.DefaultMaxClockSkew, "refuse to publish a release created further after this host's clock")
	listen := fs.String("listen", defaultBureauAddr, "listen address of the BureauService that sidecars call")
	adminAddr := fs.String("admin", defaultBureauAdminAddr, "listen address of the admin (publishing) service; loopback only unless it has TLS; \"off\" disables")
	adminTokens := fs.String("admin-tokens", "", "token file of the admin service (lines \"sha256:<hex> admin NAME\", made with 'rxguard token new -role admin'); re-read when it changes")
	adminCert := fs.String("admin-tls-cert", "", "TLS certificate (PEM) of the admin listener; with -admin-tls-key, reloaded when it changes")
	adminKey := fs.String("admin-tls-key", "", "TLS private key (PEM) of the admin listener")
	adminCA := fs.String("admin-client-ca", "", "CA bundle (PEM) of publishers' client certificates: mutual TLS on the admin listener")
	var adminClients stringList
	fs.Var(&adminClients, "admin-client", "client certificate subject (cn:NAME, dns:NAME, uri:URI) allowed to publish; repeatable; needs -admin-client-ca")
	seed := fs.Bool("demo", true, "seed an empty directory with the embedded demo release and demo physician events")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() != 0 {
		return usageError{"bureau serve takes no arguments (the directory is -dir)"}
	}
	if *keyFile == "" {
		return usageError{"bureau serve needs -key KEYFILE (create one with 'rxguard bureau keygen -out KEYFILE')"}
	}
	if *skew <= 0 {
		return usageError{fmt.Sprintf("-max-clock-skew %s must be positive", *skew)}
	}
	var adminSec bureau.AdminSecurity
	if *adminAddr != "off" {
		if err := checkAdminAddr(*adminAddr, *adminCert != ""); err != nil {
			return err
		}
		var err error
		if adminSec, err = bureauAdminSecurity(*adminTokens, *adminCert, *adminKey, *adminCA, adminClients, log); err != nil {
			return err
		}
	}
	publishers, err := parseTrustedKeys(publisherKeys)
	if err != nil {
		return usageError{"-publisher-key: " + err.Error()}
	}
	key, err := readSigningKey(*keyFile, log)
	if err != nil {
		return err
	}
	srv, err := bureau.Open(ctx, bureau.Options{Dir: *dir, Key: key, Publishers: publishers, MaxClockSkew: *skew, Logger: log, Demo: *seed, Admin: adminSec})
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("bureau listener: %w", err)
	}
	var adminLis net.Listener
	adminShown := "off"
	if *adminAddr != "off" {
		if adminLis, err = net.Listen("tcp", *adminAddr); err != nil {
			lis.Close()
			return fmt.Errorf("bureau admin listener: %w", err)
		}
		adminShown = adminLis.Addr().String()
	}
	pubIDs := make([]string, 0, len(srv.PublisherKeys()))
	for _, k := range srv.PublisherKeys() {
		pubIDs = append(pubIDs, knowledge.KeyID(k))
	}
	latest := "(none: publish one with 'rxguard bureau publish')"
	if m, ok := srv.Latest(); ok {
		latest = m.Version
	}
	absDir, _ := filepath.Abs(*dir)
	log.Info("rxguard bureau serving", "listen", lis.Addr().String(), "admin", adminShown,
		"public_key", base64.StdEncoding.EncodeToString(srv.PublicKey()), "key_id", knowledge.KeyID(srv.PublicKey()),
		"publisher_key_ids", strings.Join(pubIDs, ","), "max_clock_skew", skew.String(), "latest", latest, "last_event_seq", srv.LastEventSeq(), "dir", absDir)
	return srv.Serve(ctx, lis, adminLis)
}

// bureauAdminSecurity builds the admin listener's TLS and credentials from
// the flags. The admin service always requires role admin: publisher
// signatures prove what is published, credentials who may publish it.
func bureauAdminSecurity(tokens, cert, key, clientCA string, clients []string, log *slog.Logger) (bureau.AdminSecurity, error) {
	var sec bureau.AdminSecurity
	if tokens == "" && len(clients) == 0 {
		return sec, usageError{"the admin service needs credentials: -admin-tokens FILE (make a line with 'rxguard token new -role admin -name NAME') " +
			"and/or -admin-client SUBJECT with -admin-client-ca; or -admin off for a read-only bureau"}
	}
	if len(clients) > 0 && clientCA == "" {
		return sec, usageError{"-admin-client needs -admin-client-ca (the CA bundle of the publishers' certificates)"}
	}
	subjects, err := auth.ParseSubjects("-admin-client", clients)
	if err != nil {
		return sec, usageError{err.Error()}
	}
	if cert != "" || key != "" || clientCA != "" {
		files := tlsreload.ServerFiles{CertFile: cert, KeyFile: key, ClientCAFile: clientCA}
		if len(subjects) > 0 {
			files.VerifyClient = auth.AllowList(subjects)
		}
		if sec.TLS, err = tlsreload.NewServer(files, tlsreload.Options{Name: "admin", Logger: log}); err != nil {
			return sec, fmt.Errorf("-admin-tls-cert, -admin-tls-key, -admin-client-ca: %w", err)
		}
	}
	cfg := auth.Config{Listener: "admin", Logger: log}
	for _, s := range subjects {
		cfg.Certificates = append(cfg.Certificates, auth.CertificateRole{Subject: s, Roles: auth.Roles(0).With(auth.Admin)})
	}
	if tokens != "" {
		if cfg.Tokens, err = auth.OpenTokenFile(tokens, auth.TokenOptions{Logger: log}); err != nil {
			return sec, fmt.Errorf("-admin-tokens: %w", err)
		}
	}
	sec.Auth = auth.New(cfg)
	return sec, nil
}

// checkAdminAddr refuses, before anything binds, an admin address that is
// not on loopback when the listener has no TLS: the bearer token of a
// publisher must not cross the network in plaintext.
func checkAdminAddr(addr string, hasTLS bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return usageError{fmt.Sprintf("-admin %q: %v (want 127.0.0.1:PORT)", addr, err)}
	}
	if ip := net.ParseIP(host); (ip != nil && ip.IsLoopback()) || strings.EqualFold(host, "localhost") || hasTLS {
		return nil
	}
	what := "host " + host
	if host == "" {
		what = "every interface"
	}
	return fmt.Errorf("-admin %s would listen on %s without TLS: %w; give -admin-tls-cert and -admin-tls-key, or use -admin 127.0.0.1:PORT (or [::1]:PORT) and publish from the bureau's host "+
		"or through a tunnel such as ssh -L; -admin off disables publishing", addr, what, bureau.ErrAdminNotLoopback)
}

// readSigningKey reads a key file written by keygen (or any base64/hex
// seed).
func readSigningKey(path string, log *slog.Logger) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w (create one with 'rxguard bureau keygen -out %s')", err, path)
	}
	key, err := knowledge.ParsePrivateKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	if fi, err := os.Stat(path); err == nil && runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 && log != nil {
		log.Warn("signing key file is readable by other users; chmod 600 it", "file", path, "mode", fi.Mode().Perm().String())
	}
	return key, nil
}

func cmdBureauKeygen(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bureau keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "file to write the new signing key to (base64 seed, mode 0600; never overwritten)")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if *out == "" || fs.NArg() != 0 {
		return usageError{"bureau keygen needs -out KEYFILE and no arguments"}
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	// O_EXCL: replacing a key that sidecars already pin would make every
	// later release unverifiable for them.
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s already exists; keygen never overwrites a key (sidecars may pin it): choose another -out or remove the file yourself", *out)
	}
	if err != nil {
		return fmt.Errorf("write signing key: %w", err)
	}
	_, err = f.WriteString(base64.StdEncoding.EncodeToString(priv.Seed()) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(*out)
		return fmt.Errorf("write signing key %s: %w", *out, err)
	}
	fmt.Fprintln(stdout, base64.StdEncoding.EncodeToString(pub))
	fmt.Fprintf(stderr, "wrote signing key %s (key id %s); keep it secret. Sidecars pin the public key printed above.\n", *out, knowledge.KeyID(pub))
	return nil
}

// dialAdmin connects to a bureau's admin service with the credentials of
// the environment (RXGUARD_TOKEN; RXGUARD_CA_FILE etc. for TLS).
func dialAdmin(addr string) (*grpc.ClientConn, bureauv1.BureauAdminServiceClient, error) {
	opts, err := clientDialOptions(addr)
	if err != nil {
		return nil, nil, err
	}
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("bureau admin %s: %w", addr, err)
	}
	return conn, bureauv1.NewBureauAdminServiceClient(conn), nil
}

func cmdBureauPublish(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bureau publish", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("admin", defaultBureauAdminAddr, "admin address of a running 'rxguard bureau'")
	timeout := fs.Duration("timeout", 2*time.Minute, "deadline for the upload")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() != 1 {
		return usageError{"bureau publish needs exactly one release file (build one with 'rxguard kb release')"}
	}
	// Reading the file first proves it is whole before anything is sent.
	rel, err := wire.ReadFile(fs.Arg(0), wire.DefaultLimits())
	if err != nil {
		return err
	}
	conn, client, err := dialAdmin(*addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	cctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	stream, err := client.PublishRelease(cctx)
	if err != nil {
		return describeError(err)
	}
	err = wire.Send(rel, 0, func(c *bureauv1.ReleaseChunk) error {
		return stream.Send(&bureauv1.PublishReleaseRequest{Chunk: c})
	})
	// io.EOF: the bureau stopped reading; its reason comes with CloseAndRecv.
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("publish to %s: %w", *addr, describeError(err))
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return fmt.Errorf("publish %s to %s: %w", fs.Arg(0), *addr, describeError(err))
	}
	m := resp.GetManifest()
	fmt.Fprintf(stdout, "published  %s\nkind       %s\nrecords    %d\nsha256     %s\nstored     %s\n",
		m.GetVersion(), kindName(rel), m.GetRecordCount(), m.GetContentSha256(), resp.GetPath())
	return nil
}

func kindName(rel *wire.Release) string {
	if rel.Kind == bureauv1.ReleaseKind_RELEASE_KIND_DELTA {
		return "DELTA against " + rel.BaseVersion
	}
	return "FULL"
}

// eventColumns are demo/physician-events.csv's columns; seq is accepted and
// ignored, the bureau numbers events.
var eventColumns = map[string]bool{"seq": false, "physician_code": true, "type": true, "date": true, "points": false, "until": false, "reason": false}

func cmdBureauPublishEvents(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bureau publish-events", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("admin", defaultBureauAdminAddr, "admin address of a running 'rxguard bureau'")
	keyFile := fs.String("key", "", "publisher signing key file: the bureau's own key, or one it was started with as -publisher-key")
	timeout := fs.Duration("timeout", time.Minute, "deadline for each call")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() != 1 || *keyFile == "" {
		return usageError{"bureau publish-events needs -key KEYFILE (a publisher key) and exactly one CSV file (header seq,physician_code,type,date,points,until,reason)"}
	}
	key, err := readSigningKey(*keyFile, nil)
	if err != nil {
		return err
	}
	events, err := readEventsCSV(fs.Arg(0))
	if err != nil {
		return err
	}
	conn, client, err := dialAdmin(*addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	// A batch is signed to follow the feed's newest event, so it can be
	// appended once only: ask for it first (the admin listener serves the
	// feed too).
	cctx, cancel := context.WithTimeout(ctx, *timeout)
	head, err := bureauv1.NewBureauServiceClient(conn).ListPhysicianEvents(cctx, &bureauv1.ListPhysicianEventsRequest{Limit: 1})
	cancel()
	if err != nil {
		return fmt.Errorf("read the feed's newest seq from %s: %w", *addr, describeError(err))
	}
	after := head.GetLastSeq()
	var first, last int64
	for start := 0; start < len(events); start += maxEventsPerCall {
		end := min(start+maxEventsPerCall, len(events))
		batch := events[start:end]
		plain := make([]knowledge.PhysicianEvent, len(batch))
		for i, p := range batch {
			if plain[i], err = wire.EventFromProto(p); err != nil {
				return err // readEventsCSV checked every row
			}
		}
		sig, err := knowledge.SignEventBatch(after, plain, key)
		if err != nil {
			return err
		}
		cctx, cancel := context.WithTimeout(ctx, *timeout)
		resp, err := client.PublishPhysicianEvents(cctx, &bureauv1.PublishPhysicianEventsRequest{Events: batch, AfterSeq: after, Signature: sig})
		cancel()
		if err != nil {
			done := ""
			if start > 0 {
				done = fmt.Sprintf(" (the first %d events were published as seq %d–%d; publish the rest from row %d)", start, first, last, start+2)
			}
			return fmt.Errorf("publish events to %s: %w%s", *addr, describeError(err), done)
		}
		if start == 0 {
			first = resp.GetFirstSeq()
		}
		last = resp.GetLastSeq()
		after = last
	}
	fmt.Fprintf(stdout, "published %d events, seq %d–%d\n", len(events), first, last)
	return nil
}

// readEventsCSV reads and checks the events so that a bad row is reported
// by line before anything reaches the bureau.
func readEventsCSV(path string) ([]*bureauv1.PhysicianEvent, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: no CSV header (want seq,physician_code,type,date,points,until,reason): %w", path, err)
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if _, known := eventColumns[h]; !known {
			return nil, fmt.Errorf("%s: column %q is not one of seq, physician_code, type, date, points, until, reason", path, h)
		}
		col[h] = i
	}
	for name, required := range eventColumns {
		if _, ok := col[name]; required && !ok {
			return nil, fmt.Errorf("%s: the header lacks the %s column", path, name)
		}
	}
	var events []*bureauv1.PhysicianEvent
	for {
		row, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		line, _ := r.FieldPos(0)
		get := func(name string) string {
			if i, ok := col[name]; ok && i < len(row) {
				return strings.TrimSpace(row[i])
			}
			return ""
		}
		if strings.Join(row, "") == "" {
			continue
		}
		typ, ok := bureauv1.PhysicianEventType_value[get("type")]
		if !ok || typ == 0 {
			return nil, fmt.Errorf("%s line %d: type %q is not one of POINTS_ADDED, POINTS_REDUCED, SUSPENDED, TERMINATED, RESTORED", path, line, get("type"))
		}
		var points int64
		if p := get("points"); p != "" {
			if points, err = strconv.ParseInt(p, 10, 32); err != nil {
				return nil, fmt.Errorf("%s line %d: points %q is not a whole number", path, line, p)
			}
		}
		e := &bureauv1.PhysicianEvent{PhysicianCode: get("physician_code"), Type: bureauv1.PhysicianEventType(typ),
			Date: get("date"), Points: int32(points), Until: get("until"), Reason: get("reason")}
		if _, err := wire.EventFromProto(e); err != nil {
			return nil, fmt.Errorf("%s line %d: %s", path, line, strings.TrimPrefix(err.Error(), "event seq 0: "))
		}
		events = append(events, e)
	}
	if len(events) == 0 {
		return nil, fmt.Errorf("%s holds no events", path)
	}
	return events, nil
}
