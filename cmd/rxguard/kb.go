package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/rxguard/rxguard/knowledge"
	"github.com/rxguard/rxguard/knowledge/importer"
	"github.com/rxguard/rxguard/knowledge/store"
	"github.com/rxguard/rxguard/server"
	"github.com/rxguard/rxguard/server/engine"
)

func cmdKBImport(ctx context.Context, args []string, log *slog.Logger, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("kb import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := dataDirFlag(fs)
	ver := fs.String("version", "", "release version (default: import-<content hash>)")
	noActivate := fs.Bool("no-activate", false, "store the release without making it active")
	verbose := fs.Bool("v", false, "list every import warning")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() != 1 {
		return usageError{"kb import needs exactly one directory"}
	}
	dir := fs.Arg(0)
	content, report, err := importOfficialDir(ctx, dir)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, store.Options{Dir: filepath.Join(*dataDir, "kb"), Logger: log})
	if err != nil {
		return err
	}
	defer st.Close()
	parent := ""
	if m, ok, err := st.Active(ctx); err == nil && ok {
		parent = m.Version
	}
	m, records, err := knowledge.BuildRelease("import", *ver, parent, time.Now(), content)
	if err != nil {
		return err
	}
	m.Publisher = "rxguard kb import " + dir
	if err := st.PutRelease(ctx, m, records); err != nil {
		return err
	}
	printReport(stdout, report, *verbose, content.Warnings)
	if *noActivate {
		fmt.Fprintf(stdout, "stored release %s (%d records), not activated\n", m.Version, m.RecordCount)
		return nil
	}
	if err := activateStored(ctx, st, m.Version); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "activated release %s (%d records, sha256 %s)\n", m.Version, m.RecordCount, m.ContentSHA256)
	return nil
}

// activateStored makes a stored release the active one with the sidecar
// stopped. Compiling it first proves this rxguard can serve it (no unknown
// rule types) before the switch.
func activateStored(ctx context.Context, st *store.Store, version string) error {
	eng, err := engine.New(engine.Config{})
	if err != nil {
		return err
	}
	_, err = server.ActivateRelease(ctx, st, eng, version)
	return err
}

// importOfficialDir reads a directory of official files as published; a
// directory with none of them is an error, not an empty release.
func importOfficialDir(ctx context.Context, dir string) (*knowledge.Content, importer.Report, error) {
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, importer.Report{}, fmt.Errorf("%s is not a readable directory", dir)
	}
	content, report, err := importer.Import(ctx, os.DirFS(dir))
	if err != nil {
		return nil, report, err
	}
	if len(content.Restrictions)+len(content.Drugs)+len(content.Catalogue)+len(content.DiagnosisCategories) == 0 {
		return nil, report, fmt.Errorf("no known official files found in %s (expected e.g. batch1-drug-gender.xlsx)", dir)
	}
	return content, report, nil
}

func printReport(w io.Writer, r importer.Report, verbose bool, warnings []knowledge.ImportWarning) {
	fmt.Fprint(w, r.String())
	if verbose {
		for _, wn := range warnings {
			fmt.Fprintf(w, "warning: %s: %s\n", wn.Source, wn.Message)
		}
	} else if len(warnings) > 0 {
		fmt.Fprintf(w, "%d rows kept with warnings (-v lists them)\n", len(warnings))
	}
}

func cmdKBInspect(ctx context.Context, args []string, log *slog.Logger, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("kb inspect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := dataDirFlag(fs)
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	st, err := store.Open(ctx, store.Options{Dir: filepath.Join(*dataDir, "kb"), Logger: log})
	if err != nil {
		return err
	}
	defer st.Close()
	m, ok, err := st.Active(ctx)
	if err != nil {
		return err
	}
	if !ok {
		fmt.Fprintf(stdout, "no active release in %s (run 'rxguard serve' for the demo release or 'rxguard kb import <dir>')\n", *dataDir)
		return nil
	}
	if err := st.Verify(ctx, m.Version); err != nil {
		return fmt.Errorf("active release %s fails verification: %w", m.Version, err)
	}
	fmt.Fprintf(stdout, "active release  %s\nparent          %s\ncreated         %s\npublisher       %s\nrecords         %d\nsha256          %s (verified)\n\n",
		m.Version, orDash(m.Parent), m.Created.Format(time.RFC3339), orDash(m.Publisher), m.RecordCount, m.ContentSHA256)
	classes := make([]string, 0, len(m.Counts))
	for c := range m.Counts {
		classes = append(classes, string(c))
	}
	sort.Strings(classes)
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLASS\tRECORDS")
	for _, c := range classes {
		fmt.Fprintf(tw, "%s\t%d\n", c, m.Counts[knowledge.Class(c)])
	}
	tw.Flush()
	records, err := st.Records(ctx, m.Version)
	if err != nil {
		return err
	}
	content, err := knowledge.ContentFromRecords(records)
	if err != nil {
		return err
	}
	byType := map[knowledge.RuleType]int{}
	for _, r := range content.Restrictions {
		byType[r.Type]++
	}
	fmt.Fprintln(stdout)
	tw = tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RULE TYPE\tRESTRICTIONS")
	for _, t := range engine.RuleTypes() {
		fmt.Fprintf(tw, "%s\t%d\n", t, byType[t])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	rels, err := st.Releases(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	tw = tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STORED RELEASE\tROLE\tRECORDS\tSIGNED\tSHA256")
	for _, r := range rels {
		role := "-"
		switch {
		case r.Active:
			role = "active"
		case r.Previous:
			role = "previous (fallback)"
		}
		signed := "no"
		if r.Signature != "" {
			signed = signerOf(r.Signature)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", r.Version, role, r.RecordCount, signed, r.ContentSHA256)
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
