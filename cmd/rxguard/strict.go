package main

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/rxguard/rxguard/knowledge"
	"github.com/rxguard/rxguard/server/engine"
)

// unknownKey finds the first key of a decoded JSON document (json.Unmarshal
// into any) that the Go type t does not have, and names it by its path with
// the keys that are allowed there: a misspelt setting of a guard that
// blocks prescriptions must stop the start, not be silently ignored
// (`engin.rules…`, `engine.rules.DRUG_GENDR`). Keys are checked in sorted
// order so the message is the same every time.
func unknownKey(doc any, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(reflect.TypeFor[json.Unmarshaler]()) {
		return nil // decodes itself
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := doc.(map[string]any)
		if !ok {
			return nil // a type error: json.Unmarshal reports it with its field
		}
		fields := jsonFields(t)
		for _, k := range sortedKeys(m) {
			f, ok := fields[k]
			if !ok {
				known := make([]string, 0, len(fields))
				for name := range fields {
					known = append(known, name)
				}
				slices.Sort(known)
				return fmt.Errorf("%s: unknown key; known here: %s", join(path, k), strings.Join(known, ", "))
			}
			if err := unknownKey(m[k], f, join(path, k)); err != nil {
				return err
			}
		}
	case reflect.Map:
		m, ok := doc.(map[string]any)
		if !ok {
			return nil
		}
		if t == reflect.TypeFor[map[knowledge.RuleType]engine.RuleConfig]() {
			// The rule types are keys of a map: check them against the
			// engine's list here, where the path is known.
			known := engine.RuleTypes()
			for _, k := range sortedKeys(m) {
				if !slices.Contains(known, knowledge.RuleType(k)) {
					names := make([]string, len(known))
					for i, r := range known {
						names[i] = string(r)
					}
					return fmt.Errorf("%s: unknown rule type; known: %s", join(path, k), strings.Join(names, ", "))
				}
			}
		}
		for _, k := range sortedKeys(m) {
			if err := unknownKey(m[k], t.Elem(), join(path, k)); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		list, ok := doc.([]any)
		if !ok {
			return nil
		}
		for i, v := range list {
			if err := unknownKey(v, t.Elem(), path+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
	}
	return nil
}

// jsonFields maps the JSON names of t's fields (embedded structs
// flattened, `json:"-"` left out) to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range jsonFields(ft) {
					out[k] = v
				}
				continue
			}
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
