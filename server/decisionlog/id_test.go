package decisionlog

import (
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// freshIDs starts NewID's process state from zero for a test and puts it
// back after.
func freshIDs(t *testing.T) {
	idGen.mu.Lock()
	saved := idGen.last
	idGen.last = id{}
	idGen.mu.Unlock()
	t.Cleanup(func() {
		idGen.mu.Lock()
		idGen.last = saved
		idGen.mu.Unlock()
	})
}

func TestNewIDIsUUIDv7(t *testing.T) {
	freshIDs(t)
	now := time.Date(2026, 11, 22, 10, 0, 0, 123_000_000, time.UTC)
	s := NewID(now)
	if len(s) != 36 || strings.ToLower(s) != s {
		t.Fatalf("NewID = %q", s)
	}
	u, err := parseID(s)
	if err != nil {
		t.Fatal(err)
	}
	if u.String() != s {
		t.Fatalf("round trip %q → %q", s, u.String())
	}
	if u[6]>>4 != 7 || u[8]>>6 != 2 {
		t.Fatalf("%s: version %d, variant bits %b", s, u[6]>>4, u[8]>>6)
	}
	if got := u.Time(); !got.Equal(now) {
		t.Fatalf("timestamp %v, want %v", got, now)
	}
}

func TestNewIDMonotonic(t *testing.T) {
	freshIDs(t) // it moves the last id an hour ahead
	now := time.Now()
	var ids []string
	for i := range 10000 {
		// The same millisecond, then a clock that steps back.
		at := now
		if i > 5000 {
			at = now.Add(-time.Hour)
		}
		ids = append(ids, NewID(at))
	}
	if !sort.StringsAreSorted(ids) {
		t.Fatal("ids of one process are not increasing")
	}
	for i := 1; i < len(ids); i++ {
		if ids[i] == ids[i-1] {
			t.Fatalf("duplicate id %s", ids[i])
		}
	}
	// A later millisecond starts from fresh randomness, still above.
	if later := NewID(now.Add(time.Hour)); later <= ids[len(ids)-1] {
		t.Fatalf("%s after %s", later, ids[len(ids)-1])
	}
}

func TestNewIDConcurrentUnique(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			local := make([]string, 0, 2000)
			for range 2000 {
				local = append(local, NewID(time.Now()))
			}
			mu.Lock()
			defer mu.Unlock()
			for _, s := range local {
				if seen[s] {
					t.Errorf("duplicate %s", s)
				}
				seen[s] = true
			}
		})
	}
	wg.Wait()
}

func TestIncrementCarries(t *testing.T) {
	u := id{0, 0, 0, 0, 0, 1, 0x7f, 0xff, 0xbf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	u.increment()
	want := id{0, 0, 0, 0, 0, 2, 0x70, 0, 0x80, 0, 0, 0, 0, 0, 0, 0}
	if u != want {
		t.Fatalf("increment of the largest id of a millisecond = %x, want %x", u, want)
	}
}

func TestParseIDRejects(t *testing.T) {
	for _, s := range []string{"", "01890a5d-ac96-774b-bcce-b302099a805", "01890a5d-ac96-774b-bcce-b302099a805g", "01890a5dxac96-774b-bcce-b302099a8057", "decision-1",
		"00000000-0000-0000-0000-0000-0000000", "01890a5d-ac96-774b-bcce-b302099a805-", "01890a5d-ac96-774b-bcce--302099a8057"} {
		if _, err := parseID(s); err == nil {
			t.Errorf("parseID(%q) succeeded", s)
		}
	}
}

func FuzzParseID(f *testing.F) {
	f.Add("01890a5d-ac96-774b-bcce-b302099a8057")
	f.Add("not an id")
	f.Fuzz(func(t *testing.T, s string) {
		u, err := parseID(s)
		if err == nil && !strings.EqualFold(u.String(), s) {
			t.Fatalf("parseID(%q) = %s", s, u.String())
		}
	})
}
