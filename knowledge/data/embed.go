// Package data embeds the reference files rxguard's demo release is built
// from: the NHSA two-library rule batches exactly as published (nhsa/), the
// national drug catalogue 2024 as extracted to xlsx (catalogue/), the
// synthetic demo tables (demo/) and the ICD-10 tables (icd10/, MIT licence).
// See README.md in this directory for sources.
package data

import "embed"

// FS holds nhsa/*.xlsx, catalogue/*.xlsx, demo/*.csv and icd10/*.tsv.
//
//go:embed nhsa/*.xlsx catalogue/*.xlsx demo/*.csv icd10/*.tsv icd10/LICENSE
var FS embed.FS
