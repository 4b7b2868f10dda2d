// Package strictconf decodes a configuration file strictly into Go structs.
// A file is YAML, and so JSON too (JSON is YAML); both go through the same
// decoder. An unknown key, a duplicate key, a value of the wrong type, an
// unset environment variable, an anchor, alias, merge key or explicit tag
// is an error naming the key's path ("engine.rules.DRUG_GENDER.action",
// "plugins[1].timeout") and its line, so a misspelt setting of a guard
// that blocks prescriptions stops the start instead of being ignored.
//
// Keys are the fields' `json` tag names (one set of names for JSON and
// YAML). Supported field types: string, bool, the integer and float kinds,
// time.Duration (a Go duration: "30s"), encoding.TextUnmarshaler, pointers,
// slices, maps with string keys, and structs of these. A null value (`key:`
// with nothing after it, `null`, `~`) keeps the value the destination
// already holds, its default.
package strictconf

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Options for Decode.
type Options struct {
	// LookupEnv resolves ${VAR} in values; nil means os.LookupEnv.
	LookupEnv func(name string) (string, bool)
}

// Positions maps the key paths of a decoded file to their lines.
type Positions struct{ lines map[string]int }

// Line is the 1-based line of path's key, or of its nearest ancestor that
// was in the file (a value a section's default supplied has no line of its
// own); 0 when none was.
func (p *Positions) Line(path string) int {
	if p == nil {
		return 0
	}
	for path != "" {
		if l, ok := p.lines[path]; ok {
			return l
		}
		path = parent(path)
	}
	return 0
}

// Annotate gives every error in errs without a line the line of its path.
func (p *Positions) Annotate(errs Errors) Errors {
	for _, e := range errs {
		if e.Line == 0 {
			e.Line = p.Line(e.Path)
		}
	}
	errs.sort()
	return errs
}

// parent strips the last segment of a path: "a.b[1].c" → "a.b[1]" → "a.b".
func parent(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

// Decode parses data and decodes it into dst, a pointer to a struct that
// holds the defaults. It reports every problem it finds (an Errors), not
// only the first; dst is then partly written and must not be used.
func Decode(data []byte, dst any, opts Options) (*Positions, error) {
	rv := reflect.ValueOf(dst)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return nil, fmt.Errorf("strictconf: Decode needs a non-nil pointer, got %T", dst)
	}
	if opts.LookupEnv == nil {
		opts.LookupEnv = os.LookupEnv
	}
	d := &decoder{lookup: opts.LookupEnv, pos: &Positions{lines: map[string]int{}}}

	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	switch err := dec.Decode(&doc); {
	case errors.Is(err, io.EOF):
		return d.pos, nil // an empty file: every default
	case err != nil:
		return nil, Errors{syntaxError(err)}
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		line := more.Line
		if err != nil {
			return nil, Errors{syntaxError(err)}
		}
		return nil, Errors{{Line: line, Msg: "a second YAML document (---): the configuration is one document"}}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return d.pos, nil
		}
		root = root.Content[0]
	}
	d.value(root, rv.Elem(), "", root.Line)
	if len(d.errs) > 0 {
		d.errs.sort()
		return d.pos, d.errs
	}
	return d.pos, nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError turns the YAML parser's "yaml: line 3: …" into an Error with
// that line.
func syntaxError(err error) *Error {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		l, _ := strconv.Atoi(m[1])
		return &Error{Line: l, Msg: "not valid YAML (nor JSON): " + m[2]}
	}
	return &Error{Msg: "not valid YAML (nor JSON): " + strings.TrimPrefix(msg, "yaml: ")}
}

type decoder struct {
	lookup func(string) (string, bool)
	pos    *Positions
	errs   Errors
}

func (d *decoder) fail(path string, line int, format string, args ...any) {
	d.errs = append(d.errs, &Error{Path: path, Line: line, Msg: fmt.Sprintf(format, args...)})
}

var (
	durationType        = reflect.TypeFor[time.Duration]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// value decodes n into v (settable). line is the line of n's key, where
// errors are reported.
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string, line int) {
	// Anchors, aliases and merge keys make a value's meaning depend on
	// another part of the file: refused, so what an operator reads at a
	// key is what the sidecar runs with. Explicit tags (!!str, !custom)
	// would override the field's type: refused too.
	switch {
	case n.Kind == yaml.AliasNode:
		d.fail(path, line, "aliases (*%s) are not allowed: write the value out", n.Value)
		return
	case n.Anchor != "":
		d.fail(path, line, "anchors (&%s) are not allowed: write the value out where it is used", n.Anchor)
		return
	case n.Style&yaml.TaggedStyle != 0:
		d.fail(path, line, "explicit tags (%s) are not allowed: the key's type decides", n.Tag)
		return
	case n.Kind == yaml.ScalarNode && n.Tag == "!!null":
		return // keep the default
	}

	t := v.Type()
	if t.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		d.value(n, v.Elem(), path, line)
		return
	}
	if t == durationType {
		s, ok := d.scalar(n, path, line, "a Go duration (e.g. \"30s\", \"5m\")")
		if !ok {
			return
		}
		dur, err := time.ParseDuration(s)
		if err != nil {
			d.fail(path, line, "want a Go duration (e.g. \"30s\", \"5m\", \"24h\"), got %q", s)
			return
		}
		v.SetInt(int64(dur))
		return
	}
	if reflect.PointerTo(t).Implements(textUnmarshalerType) {
		s, ok := d.scalar(n, path, line, "a string")
		if !ok {
			return
		}
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
			d.fail(path, line, "%q: %v", s, err)
		}
		return
	}

	switch t.Kind() {
	case reflect.Struct:
		d.structValue(n, v, path, line)
	case reflect.Map:
		d.mapValue(n, v, path, line)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(path, line, "want a list, got %s", describe(n))
			return
		}
		out := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, item := range n.Content {
			p := path + "[" + strconv.Itoa(i) + "]"
			d.pos.lines[p] = item.Line
			d.value(item, out.Index(i), p, item.Line)
		}
		v.Set(out)
	case reflect.String:
		if s, ok := d.scalar(n, path, line, "a string"); ok {
			v.SetString(s)
		}
	case reflect.Bool:
		s, ok := d.scalar(n, path, line, "true or false")
		if !ok {
			return
		}
		// YAML 1.1's yes/no/on/off are refused: `NO` meaning false is the
		// classic surprise of YAML files.
		switch strings.ToLower(s) {
		case "true":
			v.SetBool(true)
		case "false":
			v.SetBool(false)
		default:
			d.fail(path, line, "want true or false, got %q", s)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		s, ok := d.scalar(n, path, line, "an integer")
		if !ok {
			return
		}
		// Decimal only: base 0 would read "010" as 8.
		i, err := strconv.ParseInt(s, 10, t.Bits())
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				d.fail(path, line, "%s is out of range (at most %d)", s, int64(1)<<(t.Bits()-1)-1)
			} else {
				d.fail(path, line, "want an integer, got %q", s)
			}
			return
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		s, ok := d.scalar(n, path, line, "a non-negative integer")
		if !ok {
			return
		}
		u, err := strconv.ParseUint(s, 10, t.Bits())
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				d.fail(path, line, "%s is out of range (at most %d)", s, uint64(math.MaxUint64)>>(64-t.Bits()))
			} else {
				d.fail(path, line, "want a non-negative integer, got %q", s)
			}
			return
		}
		v.SetUint(u)
	case reflect.Float32, reflect.Float64:
		s, ok := d.scalar(n, path, line, "a number")
		if !ok {
			return
		}
		f, err := strconv.ParseFloat(s, t.Bits())
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			d.fail(path, line, "want a number, got %q", s)
			return
		}
		v.SetFloat(f)
	default:
		// A programming error of the configuration's types, found by the
		// tests that decode every field.
		d.fail(path, line, "strictconf cannot decode a %s field", t)
	}
}

func (d *decoder) structValue(n *yaml.Node, v reflect.Value, path string, line int) {
	if n.Kind != yaml.MappingNode {
		d.fail(path, line, "want a mapping of keys, got %s", describe(n))
		return
	}
	fields := Fields(v.Type())
	d.pairs(n, path, func(key string, keyLine int, val *yaml.Node) {
		p := join(path, key)
		f, ok := fields[key]
		if !ok {
			d.fail(p, keyLine, "unknown key; known here: %s", strings.Join(sortedNames(fields), ", "))
			return
		}
		d.value(val, v.FieldByIndex(f.Index), p, keyLine)
	})
}

func (d *decoder) mapValue(n *yaml.Node, v reflect.Value, path string, line int) {
	t := v.Type()
	if t.Key().Kind() != reflect.String {
		d.fail(path, line, "strictconf cannot decode a map keyed by %s", t.Key())
		return
	}
	if n.Kind != yaml.MappingNode {
		d.fail(path, line, "want a mapping of keys, got %s", describe(n))
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMapWithSize(t, len(n.Content)/2))
	}
	d.pairs(n, path, func(key string, keyLine int, val *yaml.Node) {
		k := reflect.ValueOf(key).Convert(t.Key())
		// An entry merges into what the default holds for that key.
		elem := reflect.New(t.Elem()).Elem()
		if old := v.MapIndex(k); old.IsValid() {
			elem.Set(old)
		}
		d.value(val, elem, join(path, key), keyLine)
		v.SetMapIndex(k, elem)
	})
}

// pairs calls fn for each key of a mapping in file order, after refusing
// merge keys, non-scalar keys and duplicates. Keys are never
// env-expanded: a key is a name the sidecar knows, not data.
func (d *decoder) pairs(n *yaml.Node, path string, fn func(key string, line int, val *yaml.Node)) {
	seen := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		switch {
		case k.Kind == yaml.ScalarNode && k.Tag == "!!merge":
			d.fail(join(path, "<<"), k.Line, "merge keys (<<) are not allowed: write the keys out")
			continue
		case k.Kind != yaml.ScalarNode || k.Anchor != "" || k.Style&yaml.TaggedStyle != 0:
			d.fail(path, k.Line, "a key must be a plain name, got %s", describe(k))
			continue
		}
		p := join(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			d.fail(p, k.Line, "duplicate key (first at line %d): keep one", first)
			continue
		}
		seen[k.Value] = k.Line
		d.pos.lines[p] = k.Line
		fn(k.Value, k.Line, val)
	}
}

// scalar returns n's text with ${VAR} expanded; want describes the
// expected value for the error when n is a mapping or a list.
func (d *decoder) scalar(n *yaml.Node, path string, line int, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.fail(path, line, "want %s, got %s", want, describe(n))
		return "", false
	}
	s, err := Expand(n.Value, d.lookup)
	if err != nil {
		d.fail(path, line, "%v", err)
		return "", false
	}
	return s, true
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	return strconv.Quote(n.Value)
}

// Field is one key of a struct: its type and where it is.
type Field struct {
	Type  reflect.Type
	Index []int
}

// Fields maps the keys of struct type t (its fields' json names; embedded
// struct values flattened; `json:"-"` and unexported fields left out) to its
// fields.
func Fields(t reflect.Type) map[string]Field {
	out := map[string]Field{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		// Embedded structs are flattened (not pointers to them: decoding
		// would have to allocate them behind the caller's back).
		if f.Anonymous && name == "" {
			if ft := f.Type; ft.Kind() == reflect.Struct {
				for k, v := range Fields(ft) {
					out[k] = Field{Type: v.Type, Index: append([]int{i}, v.Index...)}
				}
				continue
			}
		}
		if name == "" {
			name = f.Name
		}
		out[name] = Field{Type: f.Type, Index: []int{i}}
	}
	return out
}

func sortedNames(m map[string]Field) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
