package main

import (
	"context"
	"crypto/ed25519"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	bureauv1 "github.com/rxguard/rxguard/gen/rxguard/bureau/v1"
	"github.com/rxguard/rxguard/knowledge"
	"github.com/rxguard/rxguard/knowledge/demo"
	"github.com/rxguard/rxguard/knowledge/wire"
)

func cmdKBRelease(ctx context.Context, args []string, log *slog.Logger, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("kb release", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keyFile := fs.String("key", "", "signing key file (create one with 'rxguard bureau keygen -out KEYFILE')")
	out := fs.String("o", "", "release file to write (OUT.rxrel)")
	ver := fs.String("version", "", "release version (default: release-<content hash>, or the demo's own version with -demo)")
	desc := fs.String("description", "", "release description")
	parentArg := fs.String("parent", "", "write a delta against this release: a full release file, or 'demo' for the embedded demo release")
	useDemo := fs.Bool("demo", false, "build from the embedded demo data instead of a directory of official files")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if *keyFile == "" || *out == "" {
		return usageError{"kb release needs -key KEYFILE and -o OUT.rxrel"}
	}
	if fs.NArg() > 1 || *useDemo == (fs.NArg() == 1) {
		return usageError{"kb release needs either -demo or exactly one directory of official files"}
	}
	key, err := readSigningKey(*keyFile, log)
	if err != nil {
		return err
	}
	now := time.Now()

	// The demo is built at most once, whether it is the content, the
	// parent or both.
	var demoM knowledge.Manifest
	var demoRecs []knowledge.Record
	loadDemo := func() error {
		if demoRecs != nil {
			return nil
		}
		var err error
		demoM, demoRecs, _, err = demo.Release(ctx, now)
		return err
	}

	var version, publisher, description string
	var records []knowledge.Record
	warnings := 0
	if *useDemo {
		if err := loadDemo(); err != nil {
			return err
		}
		records, version, publisher, description = demoRecs, demoM.Version, demoM.Publisher, demoM.Description
	} else {
		dir := fs.Arg(0)
		content, _, err := importOfficialDir(ctx, dir)
		if err != nil {
			return err
		}
		m, recs, err := knowledge.BuildRelease("release", "", "", now, content)
		if err != nil {
			return err
		}
		records, version, publisher, warnings = recs, m.Version, "rxguard kb release "+dir, len(content.Warnings)
	}
	if *ver != "" {
		version = *ver
	}
	if *desc != "" {
		description = *desc
	}

	rel := &wire.Release{Kind: bureauv1.ReleaseKind_RELEASE_KIND_FULL, Ops: wire.FullOps(records)}
	var parent knowledge.Manifest
	var parentRecs []knowledge.Record
	if *parentArg != "" {
		if *parentArg == "demo" {
			if err := loadDemo(); err != nil {
				return err
			}
			parent, parentRecs = demoM, demoRecs
		} else if parent, parentRecs, err = readFullRelease(*parentArg); err != nil {
			return err
		}
		if parent.Version == version {
			return fmt.Errorf("the new release would have its parent's version %s; give it another with -version", version)
		}
		rel.Kind = bureauv1.ReleaseKind_RELEASE_KIND_DELTA
		rel.BaseVersion, rel.BaseSHA256 = parent.Version, parent.ContentSHA256
		rel.Ops = wire.Diff(parentRecs, records)
	}
	m := knowledge.NewManifest(version, parent.Version, now, records)
	m.Publisher, m.Description = publisher, description
	if rel.Manifest, err = knowledge.SignManifest(m, key); err != nil {
		return err
	}
	if err := wire.WriteFile(*out, rel); err != nil {
		return err
	}
	// Read back what a bureau will read: the file proves out against the
	// key that signed it.
	if err := checkReleaseFile(*out, parent, parentRecs, key.Public().(ed25519.PublicKey)); err != nil {
		return fmt.Errorf("release file %s as written: %w", *out, err)
	}

	counts := map[bureauv1.OpKind]int{}
	for _, op := range rel.Ops {
		counts[op.Kind]++
	}
	kind := "FULL"
	if rel.Kind == bureauv1.ReleaseKind_RELEASE_KIND_DELTA {
		kind = fmt.Sprintf("DELTA against %s (sha256 %s)", parent.Version, parent.ContentSHA256)
	}
	fmt.Fprintf(stdout, "release  %s\nkind     %s\nops      %d adds, %d replaces, %d deletes\nrecords  %d\nsha256   %s\nkey id   %s\nfile     %s\n",
		m.Version, kind, counts[bureauv1.OpKind_OP_KIND_ADD], counts[bureauv1.OpKind_OP_KIND_REPLACE], counts[bureauv1.OpKind_OP_KIND_DELETE],
		m.RecordCount, m.ContentSHA256, knowledge.KeyID(key.Public().(ed25519.PublicKey)), *out)
	if warnings > 0 {
		fmt.Fprintf(stdout, "%d rows kept with import warnings ('rxguard kb import -v' lists them)\n", warnings)
	}
	return nil
}

// readFullRelease reads a parent release file. Only a full release can be
// a parent here: a delta's records depend on a base this command does not
// have. Its signature is not checked: the parent only shapes the delta, and
// the bureau matches the base by content hash.
func readFullRelease(path string) (knowledge.Manifest, []knowledge.Record, error) {
	rel, err := wire.ReadFile(path, wire.DefaultLimits())
	if err != nil {
		return knowledge.Manifest{}, nil, fmt.Errorf("parent: %w", err)
	}
	return fullRecords(path, rel)
}

// fullRecords proves a full release's records against its manifest (no
// signature check).
func fullRecords(path string, rel *wire.Release) (knowledge.Manifest, []knowledge.Record, error) {
	if rel.Kind != bureauv1.ReleaseKind_RELEASE_KIND_FULL {
		return knowledge.Manifest{}, nil, fmt.Errorf("parent %s is a delta against %s; pass a full release file (one written by 'rxguard kb release' without -parent)", path, rel.BaseVersion)
	}
	records, err := rel.Apply("", "", nil)
	if err != nil {
		return knowledge.Manifest{}, nil, fmt.Errorf("%s: %w", path, err)
	}
	return rel.Manifest, records, nil
}

func checkReleaseFile(path string, parent knowledge.Manifest, parentRecs []knowledge.Record, pub ed25519.PublicKey) error {
	rel, err := wire.ReadFile(path, wire.DefaultLimits())
	if err != nil {
		return err
	}
	if _, err := rel.Apply(parent.Version, parent.ContentSHA256, parentRecs); err != nil {
		return err
	}
	return knowledge.VerifyManifest(rel.Manifest, []ed25519.PublicKey{pub})
}
