package engine

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// TestCodeTableAgreesWithAMap: tables of every size up to a few thousand
// codes (short, long, empty, sharing prefixes, differing in one byte)
// answer every lookup as the map they were built from, for the codes they
// hold and for codes they do not, and visit each code once.
func TestCodeTableAgreesWithAMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 12))
	code := func() string {
		switch rng.IntN(6) {
		case 0:
			return ""
		case 1:
			return strings.Repeat("X", rng.IntN(2*codeInline)) // both sides of codeInline
		case 2:
			return fmt.Sprintf("XA01AAA%04dB%03d", rng.IntN(10000), rng.IntN(1000))
		default:
			return fmt.Sprintf("%03d", rng.IntN(5000))
		}
	}
	for _, n := range []int{0, 1, 2, 5, 6, 7, 100, 1000, 5000} {
		m := map[string]codeRef{}
		for len(m) < n {
			m[code()] = codeRef{entry: rng.Int32N(1 << 20), drug: rng.Int32N(1 << 20)}
		}
		tab := codeTableOf(m)
		if tab.len() != len(m) {
			t.Fatalf("n=%d: table holds %d", n, tab.len())
		}
		for c, want := range m {
			if got, ok := tab.get(c); !ok || got != want {
				t.Fatalf("n=%d: get(%q) = %v %t, want %v", n, c, got, ok, want)
			}
		}
		for range 2000 {
			c := code()
			want, wok := m[c]
			if got, ok := tab.get(c); ok != wok || got != want {
				t.Fatalf("n=%d: get(%q) = %v %t, want %v %t", n, c, got, ok, want, wok)
			}
		}
		seen := map[string]bool{}
		tab.each(func(c []byte, ref codeRef) {
			if seen[string(c)] || m[string(c)] != ref {
				t.Fatalf("n=%d: each visits %q twice or with %v", n, c, ref)
			}
			seen[string(c)] = true
		})
		if len(seen) != len(m) {
			t.Fatalf("n=%d: each visits %d codes, want %d", n, len(seen), len(m))
		}
		drop, kept := map[string]changedRef{}, map[string]codeRef{}
		for c, ref := range m {
			if rng.IntN(3) == 0 {
				drop[c] = changedRef{}
			} else {
				kept[c] = ref
			}
		}
		extra := code() // a code the table may not hold
		drop[extra] = changedRef{}
		delete(kept, extra)
		cp := tab.copyWithout(drop, len(m))
		for c := range m {
			want, wok := kept[c]
			if got, ok := cp.get(c); ok != wok || got != want || cp.len() != len(kept) {
				t.Fatalf("n=%d: copyWithout: get(%q) = %v %t, want %v %t (%d codes, want %d)", n, c, got, ok, want, wok, cp.len(), len(kept))
			}
		}
	}
}

// TestCodeTableHoldsNoPointers: the point of codeTable (and of the
// physicians table's rows and events) is that the garbage collector has
// nothing in them to trace; a field that holds a pointer (a string, a
// slice of strings) would bring the per-code marking back.
func TestCodeTableHoldsNoPointers(t *testing.T) {
	var pointers func(reflect.Type) bool
	pointers = func(ty reflect.Type) bool {
		switch ty.Kind() {
		case reflect.Pointer, reflect.String, reflect.Slice, reflect.Map, reflect.Interface, reflect.Chan, reflect.Func, reflect.UnsafePointer:
			return true
		case reflect.Array:
			return pointers(ty.Elem())
		case reflect.Struct:
			for i := range ty.NumField() {
				if pointers(ty.Field(i).Type) {
					return true
				}
			}
		}
		return false
	}
	for _, ty := range []reflect.Type{reflect.TypeFor[codeKey](), reflect.TypeFor[codeRef](), reflect.TypeFor[physicianRow](), reflect.TypeFor[physicianEvent]()} {
		if pointers(ty) {
			t.Fatalf("%s holds a pointer: every element would be traced by the garbage collector", ty.Name())
		}
	}
	if ty := reflect.TypeOf(codeTable{}.short); pointers(ty.Key()) || pointers(ty.Elem()) {
		t.Fatalf("codeTable.short is a %s: its memory would be scanned", ty)
	}
}

// BenchmarkCodeLookup: a lookup in the code table against the Go map it
// replaced, at the seeds' scale (480,000 codes of the national formats'
// lengths), random codes (strings of their own, as a request's are), half
// of them unknown.
func BenchmarkCodeLookup(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	m := map[string]codeRef{}
	var codes []string
	for len(m) < benchCodes {
		c := fmt.Sprintf("XA01AAA%06dB%05d", rng.IntN(1_000_000), rng.IntN(100_000))
		m[c] = codeRef{entry: int32(len(m))}
		// A check's codes are its request's strings, not the map's own.
		codes = append(codes, strings.Clone(c), c[:len(c)-1]+"Z")
	}
	rng.Shuffle(len(codes), func(i, j int) { codes[i], codes[j] = codes[j], codes[i] })
	tab := codeTableOf(m)
	b.Run("table", func(b *testing.B) {
		i := 0
		for b.Loop() {
			tab.get(codes[i%len(codes)])
			i += 7919
		}
	})
	b.Run("map", func(b *testing.B) {
		i := 0
		for b.Loop() {
			_ = m[codes[i%len(codes)]]
			i += 7919
		}
	})
}

var benchCodes = 480_000
