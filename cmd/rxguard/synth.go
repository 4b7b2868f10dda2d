package main

import (
	"context"
	"crypto/ed25519"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"

	bureauv1 "github.com/rxguard/rxguard/gen/rxguard/bureau/v1"
	"github.com/rxguard/rxguard/knowledge"
	"github.com/rxguard/rxguard/knowledge/store"
	"github.com/rxguard/rxguard/knowledge/synth"
	"github.com/rxguard/rxguard/knowledge/wire"
)

// cmdKBSynth writes a deterministic synthetic release at a city's scale
// (docs/PERFORMANCE.md): into a data directory's store, activated, or as a
// signed release file; with -delta-records, a signed delta on top of a
// synthetic release file.
func cmdKBSynth(ctx context.Context, args []string, log *slog.Logger, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("kb synth", flag.ContinueOnError)
	fs.SetOutput(stderr)
	entries := fs.Int("entries", 706_000, "knowledge entries besides rules (drugs, catalogue, interactions, diagnoses, physicians, events, …), official ones included")
	rules := fs.Int("rules", 61_000, "rules (batch restrictions), official ones included")
	seed := fs.Uint64("seed", 1, "generator seed: the same seed and sizes give a byte-identical release")
	out := fs.String("o", "", "output: a data directory (`DIR`, the release is stored and activated there) or a signed FILE.rxrel (needs -key)")
	keyFile := fs.String("key", "", "signing key file for a .rxrel output ('rxguard bureau keygen -out KEYFILE')")
	noOfficial := fs.Bool("no-official", false, "leave the embedded official records out (generated records only)")
	deltaRecords := fs.Int("delta-records", 0, "write a delta changing this many records of -parent instead of a full release")
	parentFile := fs.String("parent", "", "full release file the delta revises (with -delta-records)")
	ver := fs.String("version", "", "release version (default: synth-<content hash>, synth-delta-<content hash> for a delta)")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() != 0 || *out == "" {
		return usageError{"kb synth needs -o DIR or -o FILE.rxrel and no arguments"}
	}
	toFile := strings.HasSuffix(*out, ".rxrel")
	if toFile && *keyFile == "" {
		return usageError{"kb synth -o " + *out + " writes a signed release file: give -key KEYFILE"}
	}
	if (*deltaRecords > 0) != (*parentFile != "") {
		return usageError{"kb synth: -delta-records N and -parent FILE.rxrel go together"}
	}
	if *deltaRecords > 0 && !toFile {
		return usageError{"kb synth: a delta is written as a signed file: -o DELTA.rxrel"}
	}
	if *deltaRecords < 0 {
		return usageError{"kb synth: -delta-records must not be negative"}
	}

	var (
		m          knowledge.Manifest
		records    []knowledge.Record
		parent     knowledge.Manifest
		parentRecs []knowledge.Record
		err        error
	)
	if *deltaRecords > 0 {
		if parent, parentRecs, err = readFullRelease(*parentFile); err != nil {
			return err
		}
		content, err := knowledge.ContentFromRecords(parentRecs)
		if err != nil {
			return fmt.Errorf("parent %s: %w", *parentFile, err)
		}
		if err := synth.Revise(content, *deltaRecords, *seed); err != nil {
			return err
		}
		if m, records, err = knowledge.BuildRelease("synth-delta", *ver, parent.Version, synth.Created, content); err != nil {
			return err
		}
		m.Description = fmt.Sprintf("synthetic revision of %d records of %s, seed %d", *deltaRecords, parent.Version, *seed)
	} else {
		o := synth.Options{Entries: *entries, Rules: *rules, Seed: *seed, NoOfficial: *noOfficial}
		if m, records, err = synth.Release(ctx, o); err != nil {
			return err
		}
		if *ver != "" {
			m.Version = *ver
		}
	}
	m.Publisher = synth.Publisher

	if !toFile {
		return storeSynth(ctx, *out, m, records, log, stdout)
	}
	key, err := readSigningKey(*keyFile, log)
	if err != nil {
		return err
	}
	rel := &wire.Release{Kind: bureauv1.ReleaseKind_RELEASE_KIND_FULL, Ops: wire.FullOps(records)}
	if parentRecs != nil {
		if parent.Version == m.Version {
			return fmt.Errorf("the delta would have its parent's version %s; give it another with -version", m.Version)
		}
		rel.Kind = bureauv1.ReleaseKind_RELEASE_KIND_DELTA
		rel.BaseVersion, rel.BaseSHA256 = parent.Version, parent.ContentSHA256
		rel.Ops = wire.Diff(parentRecs, records)
	}
	if rel.Manifest, err = knowledge.SignManifest(m, key); err != nil {
		return err
	}
	if err := wire.WriteFile(*out, rel); err != nil {
		return err
	}
	if err := checkReleaseFile(*out, parent, parentRecs, key.Public().(ed25519.PublicKey)); err != nil {
		return fmt.Errorf("release file %s as written: %w", *out, err)
	}
	kind := "FULL"
	if rel.Kind == bureauv1.ReleaseKind_RELEASE_KIND_DELTA {
		kind = fmt.Sprintf("DELTA against %s, %d operations", parent.Version, len(rel.Ops))
	}
	fmt.Fprintf(stdout, "release  %s\nkind     %s\nrecords  %d (%s)\nsha256   %s\nfile     %s\n",
		m.Version, kind, m.RecordCount, countsLine(m), m.ContentSHA256, *out)
	return nil
}

// storeSynth puts the release into DIR's knowledge store and activates it,
// like 'kb import': a persisted release for cold-start measurements.
func storeSynth(ctx context.Context, dataDir string, m knowledge.Manifest, records []knowledge.Record, log *slog.Logger, stdout io.Writer) error {
	st, err := store.Open(ctx, store.Options{Dir: filepath.Join(dataDir, "kb"), Logger: log})
	if err != nil {
		return err
	}
	defer st.Close()
	if pm, ok, err := st.Active(ctx); err == nil && ok && pm.Version != m.Version {
		m.Parent = pm.Version
	}
	if err := st.PutRelease(ctx, m, records); err != nil {
		return err
	}
	if err := activateStored(ctx, st, m.Version); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "activated release %s in %s (%d records: %s; sha256 %s)\n", m.Version, dataDir, m.RecordCount, countsLine(m), m.ContentSHA256)
	return nil
}

// countsLine is "restriction 61000, drug …" in class order.
func countsLine(m knowledge.Manifest) string {
	var b strings.Builder
	for _, c := range []knowledge.Class{knowledge.ClassRestriction, knowledge.ClassDrug, knowledge.ClassCatalogueDrug, knowledge.ClassInteraction,
		knowledge.ClassPhysician, knowledge.ClassPhysicianEvent, knowledge.ClassRecognitionItem, knowledge.ClassDiagnosisCategory,
		knowledge.ClassDiagnosisBlock, knowledge.ClassChronicDiagnosis, knowledge.ClassOutpatientCondition, knowledge.ClassWarning} {
		if n := m.Counts[c]; n > 0 {
			if b.Len() > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s %d", c, n)
		}
	}
	return b.String()
}
