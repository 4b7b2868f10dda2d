package resident

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// mapping is one line of /proc/<pid>/maps that maps a file.
type mapping struct {
	start, end uint64 // [start, end)
	path       string // as the kernel prints it, without " (deleted)"
	// shared: a MAP_SHARED map (perms "…s"), whose pages are the page
	// cache's; dropping one from a private map would discard what was
	// written to it.
	shared bool
	// deleted: the file was removed since it was mapped (" (deleted)"):
	// not a file a store holds.
	deleted bool
}

// parseMaps returns the file mappings of a /proc/<pid>/maps listing:
//
//	7f2c4a000000-7f2c4c000000 r--s 00000000 fe:01 1234   /data/kb/000001.sst
//
// Lines that are not a well-formed file mapping (anonymous memory, [heap],
// [stack], a truncated last line) are skipped: the listing is the
// kernel's, and a line it adds in a later version must not stop the
// release of the others.
func parseMaps(b []byte) []mapping {
	var out []mapping
	for line := range bytes.Lines(b) {
		if m, ok := parseMapsLine(string(bytes.TrimSuffix(line, []byte("\n")))); ok {
			out = append(out, m)
		}
	}
	return out
}

func parseMapsLine(line string) (mapping, bool) {
	// Five space-separated fields, then the path after padding.
	rest := line
	var fields [5]string
	for i := range fields {
		rest = strings.TrimLeft(rest, " ")
		j := strings.IndexByte(rest, ' ')
		if j < 0 {
			return mapping{}, false
		}
		fields[i], rest = rest[:j], rest[j:]
	}
	path := strings.TrimLeft(rest, " ")
	if !strings.HasPrefix(path, "/") {
		return mapping{}, false // anonymous, [heap], [stack], [vdso], …
	}
	path, deleted := strings.CutSuffix(path, " (deleted)")
	lo, hi, ok := strings.Cut(fields[0], "-")
	if !ok {
		return mapping{}, false
	}
	start, err1 := strconv.ParseUint(lo, 16, 64)
	end, err2 := strconv.ParseUint(hi, 16, 64)
	if err1 != nil || err2 != nil || end <= start {
		return mapping{}, false
	}
	shared := len(fields[1]) == 4 && fields[1][3] == 's'
	return mapping{start: start, end: end, path: path, shared: shared, deleted: deleted}, true
}

// fileRSS sums the "Rss:" lines of an smaps listing by mapped file
// (each map's header line, as in maps, is followed by its "Name: value
// kB" lines); anonymous maps are left out.
func fileRSS(smaps []byte) (map[string]uint64, error) {
	out := map[string]uint64{}
	path := ""
	for line := range bytes.Lines(smaps) {
		l := string(bytes.TrimSuffix(line, []byte("\n")))
		if isHeader(l) {
			m, ok := parseMapsLine(l)
			path = ""
			if ok {
				path = m.path
			}
			continue
		}
		if rest, ok := strings.CutPrefix(l, "Rss:"); ok && path != "" {
			kb, err := kiB(rest)
			if err != nil {
				return nil, fmt.Errorf("resident: smaps line %q: %w", l, err)
			}
			out[path] += kb << 10
		}
	}
	return out, nil
}

// parseStatus reads the resident set of a /proc/<pid>/status listing
// ("VmRSS:   465636 kB"); a field it lacks is an error.
func parseStatus(b []byte) (Usage, error) {
	var u Usage
	fields := map[string]*uint64{"VmRSS": &u.Total, "RssAnon": &u.Anon, "RssFile": &u.File}
	found := 0
	for line := range bytes.Lines(b) {
		name, rest, ok := strings.Cut(string(bytes.TrimSuffix(line, []byte("\n"))), ":")
		if dst := fields[name]; ok && dst != nil {
			kb, err := kiB(rest)
			if err != nil {
				return Usage{}, fmt.Errorf("resident: status field %s: %w", name, err)
			}
			*dst, found = kb<<10, found+1
		}
	}
	if found != len(fields) {
		return Usage{}, fmt.Errorf("resident: status lacks VmRSS, RssAnon or RssFile")
	}
	return u, nil
}

// kiB parses "   465636 kB".
func kiB(s string) (uint64, error) {
	return strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(s), " kB"), 10, 64)
}

// isHeader reports whether an smaps line starts a map ("start-end perms
// offset dev inode [path]"), of a file or anonymous; its other lines are
// "Name: value".
func isHeader(line string) bool {
	addr, _, ok := strings.Cut(line, " ")
	if !ok {
		return false
	}
	lo, hi, ok := strings.Cut(addr, "-")
	_, err1 := strconv.ParseUint(lo, 16, 64)
	_, err2 := strconv.ParseUint(hi, 16, 64)
	return ok && err1 == nil && err2 == nil
}

// under reports whether path is in one of dirs (each clean, absolute,
// without a trailing slash) or below it.
func under(path string, dirs []string) bool {
	for _, d := range dirs {
		if len(path) > len(d) && strings.HasPrefix(path, d) && path[len(d)] == '/' {
			return true
		}
	}
	return false
}
