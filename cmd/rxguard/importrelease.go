package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"time"

	bureauv1 "github.com/rxguard/rxguard/gen/rxguard/bureau/v1"
	"github.com/rxguard/rxguard/knowledge"
	"github.com/rxguard/rxguard/knowledge/bureausync"
	"github.com/rxguard/rxguard/knowledge/store"
	"github.com/rxguard/rxguard/knowledge/wire"
)

// cmdKBImportRelease installs a signed release file (full, or a delta
// against the active release) on an air-gapped intranet: the same proof as
// bureau sync — signature against the pinned keys, operation and content
// hashes — before anything is written. The sidecar must be stopped (the
// store is locked while it runs).
func cmdKBImportRelease(ctx context.Context, args []string, log *slog.Logger, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("kb import-release", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data", "", "data directory holding the knowledge store (default: the config's data_dir, else ./data)")
	cfgPath := fs.String("config", "", "sidecar configuration file; its bureau.trusted_keys are used")
	var trusted stringList
	fs.Var(&trusted, "trusted-key", "publisher public key (base64 or hex); repeatable")
	noActivate := fs.Bool("no-activate", false, "store the release without making it active")
	skewFlag := fs.String("max-clock-skew", "", "refuse a release created further after this host's clock (default: the config's bureau.max_clock_skew, else 24h)")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() != 1 {
		return usageError{"kb import-release needs exactly one release file"}
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if *dataDir != "" {
		cfg.DataDir = *dataDir
	}
	if *skewFlag != "" {
		cfg.Bureau.MaxClockSkew = *skewFlag
	}
	skew, err := cfg.Bureau.maxClockSkew()
	if err != nil {
		return usageError{err.Error()}
	}
	keys, err := parseTrustedKeys(append(cfg.Bureau.TrustedKeys, trusted...))
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		return usageError{"kb import-release needs the publisher's public key: -trusted-key, or bureau.trusted_keys in -config"}
	}
	rel, err := wire.ReadFile(fs.Arg(0), wire.DefaultLimits())
	if err != nil {
		return fmt.Errorf("%w; rejected, nothing written", err)
	}
	st, err := store.Open(ctx, store.Options{Dir: filepath.Join(cfg.DataDir, "kb"), Logger: log})
	if err != nil {
		return err
	}
	defer st.Close()
	m := rel.Manifest
	rejected := func(err error) error {
		return fmt.Errorf("release file %s rejected, nothing written: %w", fs.Arg(0), err)
	}
	checkDate := func() error {
		return bureausync.CheckCreated(m, time.Now(), cmp.Or(skew, bureausync.DefaultMaxClockSkew))
	}
	if rel.Kind == bureauv1.ReleaseKind_RELEASE_KIND_DELTA {
		// A delta is applied to the release it is against and stored as
		// changes to it (an overlay, knowledge/store doc), as the
		// sidecar's sync does; the store proves the result as it applies it.
		d, err := bureausync.PrepareDelta(ctx, st, rel, keys)
		if err == nil {
			err = checkDate()
		}
		if err != nil {
			return rejected(err)
		}
		if _, err := st.ApplyDelta(ctx, m, d); err != nil {
			if r := bureausync.Refused(err); r != nil {
				return rejected(r)
			}
			return err
		}
	} else {
		_, records, err := bureausync.Prepare(rel, keys)
		if err == nil {
			err = checkDate()
		}
		if err != nil {
			return rejected(err)
		}
		if err := st.PutRelease(ctx, m, records); err != nil {
			return err
		}
	}
	kind := "full"
	if rel.BaseVersion != "" {
		kind = "delta against " + rel.BaseVersion
	}
	if *noActivate {
		fmt.Fprintf(stdout, "stored release %s (%s, %d records, sha256 %s), not activated\n", m.Version, kind, m.RecordCount, m.ContentSHA256)
		return nil
	}
	if err := activateStored(ctx, st, m.Version); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "activated release %s (%s, %d operations, %d records, sha256 %s, signed by %s)\n",
		m.Version, kind, len(rel.Ops), m.RecordCount, m.ContentSHA256, signerOf(m.Signature))
	return nil
}

// signerOf names the key a signature says it was made with.
func signerOf(sig string) string {
	if id := knowledge.SignerKeyID(sig); id != "" {
		return "key " + id
	}
	return "?"
}

// cmdKBVerify checks a release file without a store: its structure and
// operation hash, its signature against the given keys, and for a full
// release its content hash (a delta's content needs its base: import-release
// proves that). What to run before carrying a file into an air-gapped site.
func cmdKBVerify(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("kb verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var trusted stringList
	fs.Var(&trusted, "trusted-key", "publisher public key (base64 or hex); repeatable")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() != 1 || len(trusted) == 0 {
		return usageError{"kb verify needs -trusted-key and exactly one release file"}
	}
	keys, err := parseTrustedKeys(trusted)
	if err != nil {
		return err
	}
	rel, err := wire.ReadFile(fs.Arg(0), wire.DefaultLimits())
	if err != nil {
		return err
	}
	if err := knowledge.VerifyManifest(rel.Manifest, keys); err != nil {
		return err
	}
	m := rel.Manifest
	if rel.BaseVersion != "" {
		fmt.Fprintf(stdout, "%s: delta %s against %s, %d operations, signed by %s; content is proven against the base on import\n",
			fs.Arg(0), m.Version, rel.BaseVersion, len(rel.Ops), signerOf(m.Signature))
		return nil
	}
	if _, _, err := fullRecords(fs.Arg(0), rel); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: full release %s, %d records, sha256 %s, signed by %s: verified\n",
		fs.Arg(0), m.Version, m.RecordCount, m.ContentSHA256, signerOf(m.Signature))
	return nil
}
