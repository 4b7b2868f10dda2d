package engine

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"
)

// TestCodeRefsLayers: chains of random changes through forDelta, change
// and fold give, at every step, exactly the map a plain copy would — get,
// the count and all agree — and never change the map of an earlier step
// (checks in flight read it).
func TestCodeRefsLayers(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 2))
	code := func() string { return fmt.Sprintf("C%03d", rng.IntN(400)) }
	c := newCodeRefs(0)
	want := map[string]codeRef{}
	for range 300 {
		k, ref := code(), codeRef{entry: rng.Int32N(9), drug: rng.Int32N(9)}
		c.put(k, ref)
		want[k] = ref
	}
	if !maps.Equal(refsOf(&c), want) {
		t.Fatal("the map Compile builds is not what was put")
	}
	c.freeze()
	if c.build != nil || !maps.Equal(refsOf(&c), want) {
		t.Fatal("the frozen table is not what was put")
	}
	type step struct {
		refs codeRefs
		want map[string]codeRef
	}
	var steps []step
	folded := 0
	for range 60 {
		next := c.forDelta()
		w := maps.Clone(want)
		for range rng.IntN(40) {
			k := code()
			if rng.IntN(3) == 0 {
				next.change(k, codeRef{entry: 5}, false)
				delete(w, k)
			} else {
				ref := codeRef{entry: rng.Int32N(9), drug: rng.Int32N(9)}
				next.change(k, ref, true)
				w[k] = ref
			}
		}
		before := len(next.changed)
		next.fold()
		if next.changed == nil && before > 0 {
			folded++
		}
		steps = append(steps, step{refs: next, want: w})
		c, want = next, w
	}
	if folded == 0 || folded == len(steps) {
		t.Fatalf("folded %d of %d steps: the test does not reach both layouts", folded, len(steps))
	}
	for i, s := range steps {
		if s.refs.n != len(s.want) {
			t.Fatalf("step %d: n = %d, want %d", i, s.refs.n, len(s.want))
		}
		got := map[string]codeRef{}
		s.refs.all(func(code string, ref codeRef) {
			if _, dup := got[code]; dup {
				t.Fatalf("step %d: all visits %s twice", i, code)
			}
			got[code] = ref
		})
		if !maps.Equal(got, s.want) {
			t.Fatalf("step %d: all visits %d codes, want %d (or other refs)", i, len(got), len(s.want))
		}
		for n := range 400 {
			k := fmt.Sprintf("C%03d", n)
			ref, ok := s.refs.get(k)
			wref, wok := s.want[k]
			if ok != wok || ref != wref {
				t.Fatalf("step %d: get(%s) = %v %t, want %v %t", i, k, ref, ok, wref, wok)
			}
		}
	}
}

// refsOf is every code c knows, through get and all alike.
func refsOf(c *codeRefs) map[string]codeRef {
	got := map[string]codeRef{}
	c.all(func(code string, ref codeRef) {
		if r, ok := c.get(code); !ok || r != ref {
			got["(get disagrees) "+code] = ref
		}
		got[code] = ref
	})
	return got
}
