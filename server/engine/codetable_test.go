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
			return strings.Repeat("X", rng.IntN(300))
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
		if tab.n != len(m) {
			t.Fatalf("n=%d: table holds %d", n, tab.n)
		}
		if load := float64(tab.n) / float64(len(tab.slots)); load > 0.75 {
			t.Fatalf("n=%d: load %.2f over 0.75", n, load)
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
	for _, ty := range []reflect.Type{reflect.TypeFor[codeSlot](), reflect.TypeFor[physicianRow](), reflect.TypeFor[frozenEvent]()} {
		if pointers(ty) {
			t.Fatalf("%s holds a pointer: every element would be traced by the garbage collector", ty.Name())
		}
	}
	ty := reflect.TypeFor[codeTable]()
	for i := range ty.NumField() {
		f := ty.Field(i)
		if f.Type.Kind() == reflect.Slice && pointers(f.Type.Elem()) {
			t.Fatalf("codeTable.%s holds pointers", f.Name)
		}
	}
}
