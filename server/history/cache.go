package history

import (
	"container/list"
	"sync"
	"time"
)

// cache keeps recently looked-up patients' histories in memory: a physician
// checks the same patient's order several times while writing it, and a
// Badger prefix scan costs ~70 µs where a cached copy costs a few.
//
// An entry is a patient's whole in-retention history up to a time (upto:
// cacheAhead past the load, or the lookup's until if later) as of its load;
// a lookup whose until is past upto is a miss. Any Record bumps epoch and
// drops the patient; a miss caches what it read only if no Record happened
// meanwhile, so a lookup racing a write can never leave a stale history
// behind. Memory is bounded by the total number of entries held, least
// recently used patients going first.
type cache struct {
	mu         sync.Mutex
	epoch      uint64
	byPatient  map[string]*list.Element
	lru        *list.List // front = most recently used; values *cached
	entries    int
	maxEntries int
}

type cached struct {
	patient string
	hist    []Entry   // oldest first
	upto    time.Time // hist holds every entry up to it
	codes   *codeIndex
}

func newCache(maxEntries int) *cache {
	if maxEntries <= 0 {
		return nil
	}
	return &cache{byPatient: map[string]*list.Element{}, lru: list.New(), maxEntries: maxEntries}
}

// get returns the patient's entries with since <= Time <= until and after
// cutoff, or ok=false on a miss (the patient is not cached, or not up to
// until). It also returns the epoch a miss must present to put.
//
// The entries are the cache's own, shared with every caller, not a copy
// (a long-stay patient's 10,000 entries are 1.1 MB per check otherwise):
// put stores a private copy, and nothing writes a cached slice after that
// — invalidate and remove drop it whole, and Lookup's callers must only
// read what it returns (its doc says so). The slice is capped at its
// length, so even an append by a caller reallocates instead of writing
// into the cache.
func (c *cache) get(patient string, since, until, cutoff time.Time) (v View, ok bool, epoch uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el := c.byPatient[patient]
	if el == nil || until.After(el.Value.(*cached).upto) {
		return View{}, false, c.epoch
	}
	c.lru.MoveToFront(el)
	cc := el.Value.(*cached)
	from := since
	if cutoff.After(from) || cutoff.Equal(from) {
		from = cutoff.Add(time.Nanosecond) // entries at the cutoff are expired
	}
	if i, j := within(cc.hist, from, until); i < j {
		return View{entries: cc.hist[i:j:j], off: i, codes: cc.codes}, true, c.epoch
	}
	return View{}, true, c.epoch
}

// put caches a patient's history up to upto, read at epoch, unless a Record
// happened since or it alone would exceed the bound.
func (c *cache) put(patient string, hist []Entry, upto time.Time, epoch uint64) {
	if len(hist) > c.maxEntries/4 {
		return
	}
	// The private copy and its code index are built outside the lock:
	// checks of other patients keep being served meanwhile.
	own := append([]Entry(nil), hist...)
	codes := indexCodes(own)
	c.mu.Lock()
	defer c.mu.Unlock()
	if epoch != c.epoch {
		return
	}
	if el := c.byPatient[patient]; el != nil {
		c.remove(el)
	}
	c.byPatient[patient] = c.lru.PushFront(&cached{patient: patient, hist: own, upto: upto, codes: codes})
	c.entries += len(hist)
	for c.entries > c.maxEntries {
		c.remove(c.lru.Back())
	}
}

// invalidate drops a patient after a Record and fences off lookups that
// started before it.
func (c *cache) invalidate(patient string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	if el := c.byPatient[patient]; el != nil {
		c.remove(el)
	}
}

func (c *cache) remove(el *list.Element) {
	v := el.Value.(*cached)
	c.lru.Remove(el)
	delete(c.byPatient, v.patient)
	c.entries -= len(v.hist)
}
