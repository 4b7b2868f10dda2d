package engine

import (
	"github.com/rxguard/rxguard/knowledge"
)

// citation is a cited source (knowledge.Source.String) kept in two parts:
// the prefix — batch, file and sheet — interned per release and shared
// by every row of that sheet, and the row. The row's " 第N行" is written
// only into a finding's evidence (cite), so a product costs 20 bytes of
// citation, not a string of its own. row 0: the prefix is the whole text.
type citation struct {
	prefix string
	row    int32
}

// cite makes s's citation, interning its prefix in idx.sources.
func (idx *Index) cite(s knowledge.Source) citation {
	if s.Row <= 0 || s.Row > 1<<31-1 {
		return citation{prefix: s.String()} // no row, or one int32 cannot keep
	}
	key := knowledge.Source{Batch: s.Batch, File: s.File, Sheet: s.Sheet}
	prefix, ok := idx.sources[key]
	if !ok {
		prefix = key.String()
		if idx.sources == nil {
			idx.sources = map[knowledge.Source]string{}
		}
		idx.sources[key] = prefix
	}
	return citation{prefix: prefix, row: int32(s.Row)}
}

// String is the full source text, as knowledge.Source.String gives it.
func (c citation) String() string { return c.with(nil) }

// with is the source text followed by parts. Built in ev's arena when ev
// is set (a finding's evidence), else in one allocation (Explain).
func (c citation) with(ev *evaluation, parts ...string) string {
	row := knowledge.Source{Row: int(c.row)} // its text is just " 第N行"
	n := len(c.prefix) + row.TextLen()
	for _, p := range parts {
		n += len(p)
	}
	t := textFor(ev)
	start := t.begin(n)
	w := &t.chunk
	w.WriteString(c.prefix)
	row.WriteText(w)
	for _, p := range parts {
		w.WriteString(p)
	}
	return t.since(start)
}

// cite is the drug record's source followed by parts: a finding's evidence.
func (d *drugInfo) cite(ev *evaluation, parts ...string) string {
	return d.source().with(ev, parts...)
}

// sourceText is the drug record's cited source alone.
func (d *drugInfo) sourceText() string { return d.source().with(nil) }

// source is the drug record's citation: its sheet's prefix (shared with
// its terms) and its row.
func (d *drugInfo) source() citation { return citation{prefix: d.sourcePrefix, row: d.row} }

// sourceWith is the restriction's cited source (knowledge.Source.String)
// followed by parts, built in ev's arena.
func (b *bound) sourceWith(ev *evaluation, parts ...string) string {
	return writeCited(ev, &b.r.Source, false, "", "", parts)
}

// quoteWith is the source and wording of the restriction as findings cite
// it — source, "：", name and, when there is one, "，说明：“description”" —
// followed by parts, built in ev's arena.
func (b *bound) quoteWith(ev *evaluation, parts ...string) string {
	return writeCited(ev, &b.r.Source, true, b.r.Name, b.r.Description, parts)
}

// writeCited writes s as knowledge.Source.String does; then, when quoted
// (quoteWith), "：" + name and, for a description, "，说明：“" + desc + "”";
// then parts.
func writeCited(ev *evaluation, s *knowledge.Source, quoted bool, name, desc string, parts []string) string {
	n := s.TextLen()
	if quoted {
		n += len("：") + len(name) + len("，说明：“") + len(desc) + len("”")
	}
	for _, p := range parts {
		n += len(p)
	}
	t := textFor(ev)
	start := t.begin(n)
	w := &t.chunk
	s.WriteText(w)
	if quoted {
		w.WriteString("：")
		w.WriteString(name)
		if desc != "" {
			w.WriteString("，说明：“")
			w.WriteString(desc)
			w.WriteString("”")
		}
	}
	for _, p := range parts {
		w.WriteString(p)
	}
	return t.since(start)
}
