// Package data embeds the reference files rxguard's demo release is built
// from: the NHSA two-library rule batches exactly as published (nhsa/), the
// synthetic demo tables (demo/) and the ICD-10 tables (icd10/, MIT licence).
// See README.md in this directory for sources.
package data

import "embed"

// FS holds nhsa/*.xlsx, demo/*.csv and icd10/*.tsv.
//
//go:embed nhsa/*.xlsx demo/*.csv icd10/*.tsv icd10/LICENSE
var FS embed.FS
