// Package demo builds rxguard's embedded demo release: the official NHSA
// batches as published plus the synthetic demo tables and ICD-10, so that
// `rxguard serve` works on a fresh machine with no bureau and no files.
package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/rxguard/rxguard/knowledge"
	"github.com/rxguard/rxguard/knowledge/data"
	"github.com/rxguard/rxguard/knowledge/importer"
)

// Release imports the embedded files into a release whose version is
// "demo-" and the first 12 hex digits of its content hash.
func Release(ctx context.Context, created time.Time) (knowledge.Manifest, []knowledge.Record, importer.Report, error) {
	content, report, err := importer.Import(ctx, data.FS)
	if err != nil {
		return knowledge.Manifest{}, nil, report, fmt.Errorf("import embedded demo data: %w", err)
	}
	m, records, err := knowledge.BuildRelease("demo", "", "", created, content)
	if err != nil {
		return knowledge.Manifest{}, nil, report, err
	}
	m.Publisher = "rxguard embedded demo"
	m.Description = "NHSA 两库 第一批–第八批 (as published) + demo tables + ICD-10"
	return m, records, report, nil
}
