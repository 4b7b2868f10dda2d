package strictconf

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

type inner struct {
	Count   int           `json:"count"`
	Ratio   float64       `json:"ratio"`
	Size    uint16        `json:"size"`
	On      *bool         `json:"on"`
	Wait    time.Duration `json:"wait"`
	Addr    netip.Addr    `json:"addr"`
	Comment string        `json:"comment"`
}

type embedded struct {
	Flat string `json:"flat"`
}

type doc struct {
	embedded
	Name   string           `json:"name"`
	Inner  inner            `json:"inner"`
	List   []inner          `json:"list"`
	Tags   []string         `json:"tags"`
	Map    map[string]inner `json:"map"`
	Hidden string           `json:"-"`
}

func env(vars map[string]string) Options {
	return Options{LookupEnv: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }}
}

// Every supported kind decodes, from YAML and from JSON alike; null keeps
// the default; a map entry merges into the default's.
func TestDecodeValues(t *testing.T) {
	yes := true
	want := doc{embedded: embedded{Flat: "f"}, Name: "n", Tags: []string{"a", "b"},
		Inner: inner{Count: -3, Ratio: 0.5, Size: 65535, On: &yes, Wait: 1500 * time.Millisecond,
			Addr: netip.MustParseAddr("10.0.0.1"), Comment: "kept"},
		List: []inner{{Count: 1}, {Count: 2}},
		Map:  map[string]inner{"x": {Count: 7, Comment: "default"}, "y": {Count: 8}}}
	for name, text := range map[string]string{
		"yaml": `
flat: f
name: n
tags: [a, b]
inner:
  count: -3
  ratio: 0.5
  size: 65535
  on: true
  wait: 1.5s
  addr: 10.0.0.1
  comment:
list:
  - count: 1
  - {count: 2}
map:
  x: {count: 7}
  y: {count: 8}
`,
		"json": `{"flat": "f", "name": "n", "tags": ["a", "b"],
 "inner": {"count": -3, "ratio": 0.5, "size": 65535, "on": true, "wait": "1.5s", "addr": "10.0.0.1", "comment": null},
 "list": [{"count": 1}, {"count": 2}], "map": {"x": {"count": 7}, "y": {"count": 8}}}`,
	} {
		t.Run(name, func(t *testing.T) {
			got := doc{Inner: inner{Comment: "kept"}, Map: map[string]inner{"x": {Comment: "default"}}}
			if _, err := Decode([]byte(text), &got, Options{}); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("decoded\n %+v\nwant\n %+v", got, want)
			}
		})
	}
}

// Each problem names the key's path and line and says what is allowed;
// every problem of a file is reported.
func TestDecodeErrors(t *testing.T) {
	for _, c := range []struct {
		name, text string
		want       []string // each a whole error line
	}{
		{"unknown key", "name: a\nnmae: b\n", []string{"line 2: nmae: unknown key; known here: flat, inner, list, map, name, tags"}},
		{"unknown nested", "inner:\n  cout: 1\n", []string{"line 2: inner.cout: unknown key; known here: addr, comment, count, on, ratio, size, wait"}},
		{"in a list", "list:\n  - count: 1\n  - conut: 2\n", []string{"line 3: list[1].conut: unknown key"}},
		{"in a map", "map:\n  x:\n    cuont: 1\n", []string{"line 3: map.x.cuont: unknown key"}},
		{"json-hidden field", "Hidden: x\n", []string{"line 1: Hidden: unknown key"}},
		{"integer", "inner: {count: many}\n", []string{`line 1: inner.count: want an integer, got "many"`}},
		{"octal-looking is decimal or refused", "inner: {count: 0x10}\n", []string{`line 1: inner.count: want an integer, got "0x10"`}},
		{"range", "inner: {size: 65536}\n", []string{"line 1: inner.size: 65536 is out of range (at most 65535)"}},
		{"negative uint", "inner: {size: -1}\n", []string{`line 1: inner.size: want a non-negative integer, got "-1"`}},
		{"bool", "inner:\n  on: yes\n", []string{`line 2: inner.on: want true or false, got "yes"`}},
		{"float", "inner: {ratio: .nan}\n", []string{`line 1: inner.ratio: want a number, got ".nan"`}},
		{"duration", "inner: {wait: soon}\n", []string{`line 1: inner.wait: want a Go duration (e.g. "30s", "5m", "24h"), got "soon"`}},
		{"text unmarshaler", "inner: {addr: 10.0.0}\n", []string{`line 1: inner.addr: "10.0.0": ParseAddr("10.0.0"): IPv4 address too short`}},
		{"mapping for a string", "name: {a: 1}\n", []string{"line 1: name: want a string, got a mapping"}},
		{"list for a struct", "inner: [1]\n", []string{"line 1: inner: want a mapping of keys, got a list"}},
		{"scalar for a list", "tags: a\n", []string{`line 1: tags: want a list, got "a"`}},
		{"not a mapping at all", "[1, 2]\n", []string{"line 1: want a mapping of keys, got a list"}},
		{"duplicate key", "name: a\ninner: {}\nname: b\n", []string{"line 3: name: duplicate key (first at line 1): keep one"}},
		{"duplicate in json", `{"name": "a", "name": "b"}`, []string{"line 1: name: duplicate key (first at line 1): keep one"}},
		{"anchor", "inner: &x {count: 1}\nlist: [*x]\n", []string{"line 1: inner: anchors (&x) are not allowed: write the value out where it is used", "line 2: list[0]: aliases (*x) are not allowed: write the value out"}},
		{"merge key", "map:\n  x:\n    <<: {count: 1}\n", []string{"line 3: map.x.<<: merge keys (<<) are not allowed: write the keys out"}},
		{"explicit tag", "name: !!str 5\n", []string{"line 1: name: explicit tags (!!str) are not allowed: the key's type decides"}},
		{"complex key", "? [a]\n: 1\n", []string{"line 1: a key must be a plain name, got a list"}},
		{"two documents", "name: a\n---\nname: b\n", []string{"line 2: a second YAML document (---): the configuration is one document"}},
		{"syntax", "name: a\n  bad: [\n", []string{"line 2: not valid YAML (nor JSON): "}},
		{"json syntax", `{"name": `, []string{"line 1: not valid YAML (nor JSON): "}},
		{"unset variable", "name: ${NOPE}\n", []string{"line 1: name: environment variable NOPE is not set (set it, or write ${NOPE:-default})"}},
		{"bad variable name", "name: ${1X}\n", []string{`line 1: name: ${1X}: "1X" is not an environment variable name`}},
		{"unterminated", "name: a${X\n", []string{`line 1: name: unterminated ${ in "a${X" (write $$ for a literal $)`}},
		{"all of them", "nmae: a\ninner: {count: x, size: y}\n", []string{"line 1: nmae: unknown key", `line 2: inner.count: want an integer, got "x"`, `line 2: inner.size: want a non-negative integer, got "y"`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var d doc
			_, err := Decode([]byte(c.text), &d, env(nil))
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error %v (%T), want Errors", err, err)
			}
			if len(errs) != len(c.want) {
				t.Errorf("%d errors, want %d:\n%v", len(errs), len(c.want), err)
			}
			for i, w := range c.want {
				if i < len(errs) && !strings.HasPrefix(errs[i].Error(), w) {
					t.Errorf("error %d\n %q\nwant it to start with\n %q", i, errs[i].Error(), w)
				}
			}
		})
	}
}

// ${VAR} and ${VAR:-default} expand in values, typed afterwards; $$ is a
// dollar; keys are never expanded; a value is expanded once.
func TestDecodeExpandsEnvironment(t *testing.T) {
	vars := map[string]string{"N": "12", "NAME": "from-env", "EMPTY": "", "NESTED": "${N}"}
	var d doc
	_, err := Decode([]byte(`
name: pre-${NAME}-$$HOME-$x-${EMPTY}
tags: ["${MISSING:-fallback}", "${EMPTY:-empty-default}", "${NESTED}", "cost $$5", "$"]
inner: {count: "${N}", wait: "${WAIT:-2s}"}
map:
  ${NAME}: {count: 1}
`), &d, env(vars))
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "pre-from-env-$HOME-$x-" {
		t.Errorf("name %q", d.Name)
	}
	if want := []string{"fallback", "empty-default", "${N}", "cost $5", "$"}; !reflect.DeepEqual(d.Tags, want) {
		t.Errorf("tags %q, want %q", d.Tags, want)
	}
	if d.Inner.Count != 12 || d.Inner.Wait != 2*time.Second {
		t.Errorf("inner %+v", d.Inner)
	}
	if _, ok := d.Map["${NAME}"]; !ok || len(d.Map) != 1 {
		t.Errorf("map keys %v: a key must not be expanded", d.Map)
	}
}

// An empty document, or one of comments only, keeps every default.
func TestDecodeEmpty(t *testing.T) {
	for _, text := range []string{"", "# nothing\n", "---\n", "{}"} {
		d := doc{Name: "default"}
		if _, err := Decode([]byte(text), &d, Options{}); err != nil || d.Name != "default" {
			t.Errorf("%q: %+v, %v", text, d, err)
		}
	}
}

func TestPositionsAndWithin(t *testing.T) {
	var d doc
	pos, err := Decode([]byte("name: a\nlist:\n  - count: 1\n  - count: 2\n    ratio: 1\n"), &d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for path, line := range map[string]int{"name": 1, "list": 2, "list[1]": 4, "list[1].ratio": 5,
		"list[1].wait": 4, "inner.count": 0} {
		if got := pos.Line(path); got != line {
			t.Errorf("Line(%q) = %d, want %d", path, got, line)
		}
	}

	// A section's errors: typed, joined, plain with and without a path.
	sectionErr := errors.Join(
		&Error{Path: "count", Msg: "typed"},
		errors.Join(errors.New("[1].ratio: plain list path"), errors.New("wait: plain")),
		Errors{{Path: "", Msg: "at the section"}},
		errors.New("open /etc/x: no path"),
	)
	got := pos.Annotate(Within("list", sectionErr))
	var lines []string
	for _, e := range got {
		lines = append(lines, e.Error())
	}
	// Sorted by line, then path.
	want := []string{"line 2: list: at the section", "line 2: list: open /etc/x: no path", "line 2: list.count: typed",
		"line 2: list.wait: plain", "line 5: list[1].ratio: plain list path"}
	if !reflect.DeepEqual(lines, want) {
		t.Errorf("got\n %q\nwant\n %q", lines, want)
	}
}

type okSection struct{ V int }

func (s okSection) Validate() error {
	if s.V < 0 {
		return errors.New("v: negative")
	}
	return nil
}

type ptrSection struct{ V int }

func (s *ptrSection) Validate() error {
	if s.V < 0 {
		return errors.New("v: negative (pointer receiver)")
	}
	return nil
}

func TestValidateSections(t *testing.T) {
	c := struct {
		A okSection   `json:"a"`
		B *okSection  `json:"b"`
		C ptrSection  `json:"c"`
		D *ptrSection `json:"d"`
		E int         `json:"e"`
	}{A: okSection{-1}, C: ptrSection{-1}, D: &ptrSection{-2}}
	var lines []string
	for _, e := range ValidateSections(&c) {
		lines = append(lines, e.Error())
	}
	want := []string{"a.v: negative", "c.v: negative (pointer receiver)", "d.v: negative (pointer receiver)"}
	if !reflect.DeepEqual(lines, want) {
		t.Errorf("got %q, want %q", lines, want)
	}
}

// Arbitrary input never panics; a document that decodes, decodes again to
// the same value (the walk is deterministic).
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		"name: a\ninner: {count: 1, wait: 1s, on: true}\nlist: [{count: 2}]\nmap: {x: {size: 3}}\n",
		`{"name": "a", "tags": ["${X:-y}", "$$"]}`,
		"inner: &a {count: 1}\nlist: [*a]\n",
		"map:\n  x:\n    <<: {count: 1}\n",
		"? [a]\n: 1\n",
		"name: !!binary aGk=\n",
		"---\n---\n",
		"name: ${\n",
		"inner: {count: 99999999999999999999}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var a, b doc
		opts := env(map[string]string{"X": "1"})
		if _, err := Decode(data, &a, opts); err != nil {
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("error %v (%T) is not Errors", err, err)
			}
			return
		}
		if _, err := Decode(data, &b, opts); err != nil || !reflect.DeepEqual(a, b) {
			t.Fatalf("second decode: %v\n%+v\n%+v", err, a, b)
		}
	})
}
