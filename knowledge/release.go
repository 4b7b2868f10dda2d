package knowledge

import (
	"fmt"
	"time"
)

// BuildRelease turns content into the sorted records and manifest of a
// release. An empty version is derived from the content hash with the given
// prefix ("demo", "import"), so building the same files twice yields the
// same version and the store recognises it.
func BuildRelease(prefix, version, parent string, created time.Time, c *Content) (Manifest, []Record, error) {
	records, err := c.Records()
	if err != nil {
		return Manifest{}, nil, fmt.Errorf("build release: %w", err)
	}
	m := NewManifest(version, parent, created, records)
	if m.Version == "" {
		m.Version = prefix + "-" + m.ContentSHA256[:12]
	}
	return m, records, nil
}
