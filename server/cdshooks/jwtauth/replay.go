package jwtauth

import (
	"sync"
	"time"
)

type replayResult int

const (
	replayNew replayResult = iota
	replaySeen
	replayFull
)

// replayCache remembers (iss, jti) until the token could no longer be
// accepted anyway. It is bounded: when full after dropping expired
// entries, new tokens are refused rather than old ones forgotten (which
// would let those be replayed). Sweeps run at most once a second so a
// full cache costs O(1) per refused token, not a scan.
type replayCache struct {
	mu        sync.Mutex
	capacity  int
	until     map[string]time.Time
	lastSweep time.Time
}

func newReplayCache(capacity int) *replayCache {
	return &replayCache{capacity: capacity, until: map[string]time.Time{}}
}

func (c *replayCache) add(id string, until, now time.Time) replayResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.until[id]; ok && now.Before(t) {
		return replaySeen
	}
	if len(c.until) >= c.capacity && now.Sub(c.lastSweep) >= time.Second {
		c.lastSweep = now
		for k, t := range c.until {
			if !now.Before(t) {
				delete(c.until, k)
			}
		}
	}
	if len(c.until) >= c.capacity {
		return replayFull
	}
	c.until[id] = until
	return replayNew
}
