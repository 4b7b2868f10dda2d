package resident

import (
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
		{0x00400000, 0x00452000, "/usr/bin/rxguard"},
		{0x7f2c4a000000, 0x7f2c4c000000, "/data/kb/000001.sst"},
		{0x7f2c4c000000, 0x7f2c4c001000, "/data/my store/000002.vlog"},
		{0x7f2c4d000000, 0x7f2c4d002000, "/data/kb/000003.sst"},
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

func TestResidentIn(t *testing.T) {
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
	}, "\n")
	got, err := residentIn([]byte(smaps), []string{"/data/decisions"})
	if err != nil || got != 128<<10 {
		t.Fatalf("residentIn = %d, %v; want %d", got, err, 128<<10)
	}
	if _, err := residentIn([]byte("7f00-7f10 r--s 0 0:0 1 /data/decisions/x\nRss: many kB"), []string{"/data/decisions"}); err == nil {
		t.Error("a malformed Rss line of a counted map was accepted")
	}
}

func FuzzParseMaps(f *testing.F) {
	f.Add([]byte("7f2c4a000000-7f2c4c000000 r--s 00000000 fe:01 1234   /data/kb/000001.sst\n"))
	f.Add([]byte("c000000000-c004000000 rw-p 00000000 00:00 0 \n7f00-7f10 r--s 0 0:0 1 /a (deleted)"))
	f.Add([]byte("1-2 a b c d /\n\n\n 1-2  a  b  c  d  /x"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = residentIn(b, []string{"/a", "/data/kb"})
		for _, m := range parseMaps(b) {
			if m.start >= m.end || !strings.HasPrefix(m.path, "/") || strings.ContainsRune(m.path, '\n') {
				t.Fatalf("parseMaps returned %+v", m)
			}
		}
	})
}
