package resident

import (
	"maps"
	"strings"
	"testing"
)

func TestParseMaps(t *testing.T) {
	listing := strings.Join([]string{
		"00400000-00452000 r-xp 00000000 08:02 173521      /usr/bin/rxguard",
		"7f2c4a000000-7f2c4c000000 r--s 00000000 fe:01 1234                       /data/kb/000001.sst",
		"7f2c4c000000-7f2c4c001000 rw-s 00000000 fe:01 1235   /data/my store/000002.vlog (deleted)",
		"c000000000-c004000000 rw-p 00000000 00:00 0 ",
		"7ffd1a2e9000-7ffd1a30a000 rw-p 00000000 00:00 0                          [stack]",
		"01e1c000-01e3d000 rw-p 00000000 00:00 0                                  [heap]",
		"zz-7f00 r--s 00000000 fe:01 1 /data/kb/bad.sst",
		"7f00-7e00 r--s 00000000 fe:01 1 /data/kb/backwards.sst",
		"7f00 r--s",
		"",
		"7f2c4d000000-7f2c4d002000 r--s 00000000 fe:01 1236 /data/kb/000003.sst", // no newline after the last line
	}, "\n")
	got := parseMaps([]byte(listing))
	want := []mapping{
		{0x00400000, 0x00452000, "/usr/bin/rxguard", false, false},
		{0x7f2c4a000000, 0x7f2c4c000000, "/data/kb/000001.sst", true, false},
		{0x7f2c4c000000, 0x7f2c4c001000, "/data/my store/000002.vlog", true, true},
		{0x7f2c4d000000, 0x7f2c4d002000, "/data/kb/000003.sst", true, false},
	}
	if len(got) != len(want) {
		t.Fatalf("parseMaps = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("mapping %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestUnder(t *testing.T) {
	dirs := []string{"/data/kb", "/data/decisions"}
	for path, want := range map[string]bool{
		"/data/kb/000001.sst":         true,
		"/data/kb/sub/x":              true,
		"/data/decisions/000001.vlog": true,
		"/data/kb":                    false, // the directory itself is not a file in it
		"/data/kb2/000001.sst":        false,
		"/data/history/000001.vlog":   false,
		"/usr/bin/rxguard":            false,
	} {
		if got := under(path, dirs); got != want {
			t.Errorf("under(%q) = %t, want %t", path, got, want)
		}
	}
}

func TestFileRSS(t *testing.T) {
	smaps := strings.Join([]string{
		"7f2c4a000000-7f2c4c000000 r--s 00000000 fe:01 1234   /data/decisions/000001.vlog",
		"Size:              32768 kB",
		"Rss:                 120 kB",
		"c000000000-c004000000 rw-p 00000000 00:00 0 ", // anonymous: not counted though it follows a counted map
		"Rss:               65536 kB",
		"7f2c4c000000-7f2c4d000000 rw-s 00000000 fe:01 1235   /data/decisions/000002.mem (deleted)",
		"Rss:                   8 kB",
		"7f2c4d000000-7f2c4e000000 r--s 00000000 fe:01 1236   /data/kb/000001.sst",
		"Rss:                4096 kB",
		"7f2c4e000000-7f2c4f000000 r--s 01000000 fe:01 1236   /data/kb/000001.sst", // a second map of the same file
		"Rss:                   4 kB",
	}, "\n")
	got, err := fileRSS([]byte(smaps))
	want := map[string]uint64{"/data/decisions/000001.vlog": 120 << 10, "/data/decisions/000002.mem": 8 << 10, "/data/kb/000001.sst": 4100 << 10}
	if err != nil || !maps.Equal(got, want) {
		t.Fatalf("fileRSS = %v, %v; want %v", got, err, want)
	}
	if _, err := fileRSS([]byte("7f00-7f10 r--s 0 0:0 1 /data/decisions/x\nRss: many kB")); err == nil {
		t.Error("a malformed Rss line of a file's map was accepted")
	}
}

func TestParseStatus(t *testing.T) {
	status := "Name:\trxguard\nVmPeak:\t 3413180 kB\nVmRSS:\t  465636 kB\nRssAnon:\t  259300 kB\nRssFile:\t  206336 kB\nRssShmem:\t       0 kB\nThreads:\t12\n"
	got, err := parseStatus([]byte(status))
	if want := (Usage{Total: 465636 << 10, Anon: 259300 << 10, File: 206336 << 10}); err != nil || got != want {
		t.Fatalf("parseStatus = %+v, %v; want %+v", got, err, want)
	}
	for _, bad := range []string{
		strings.Replace(status, "RssFile:", "RssFiles:", 1),
		strings.Replace(status, "259300 kB", "lots", 1),
	} {
		if _, err := parseStatus([]byte(bad)); err == nil {
			t.Errorf("parseStatus(%q) gave no error", bad)
		}
	}
}

func FuzzParseMaps(f *testing.F) {
	f.Add([]byte("7f2c4a000000-7f2c4c000000 r--s 00000000 fe:01 1234   /data/kb/000001.sst\n"))
	f.Add([]byte("c000000000-c004000000 rw-p 00000000 00:00 0 \n7f00-7f10 r--s 0 0:0 1 /a (deleted)"))
	f.Add([]byte("1-2 a b c d /\n\n\n 1-2  a  b  c  d  /x"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = fileRSS(b)
		_, _ = parseStatus(b)
		for _, m := range parseMaps(b) {
			if m.start >= m.end || !strings.HasPrefix(m.path, "/") || strings.ContainsRune(m.path, '\n') {
				t.Fatalf("parseMaps returned %+v", m)
			}
		}
	})
}
