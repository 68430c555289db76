package platforms

// Compilations returns the targets of [All] grouped by their Go build
// configuration; see [Table.Compilations].
func Compilations() [][]Target { return All().Compilations() }

// Compilations returns the targets grouped by their Go build configuration, in
// table order: one group per distinct compilation (9 for the 12 targets). A
// group's first target is the one compiled; the others (its -musl twins) get a
// copy of its binary. Splitting a build along these groups never compiles the
// same configuration twice.
func (tb Table) Compilations() [][]Target {
	var groups [][]Target
	index := map[Config]int{}
	for _, t := range tb {
		c := t.Config()
		i, ok := index[c]
		if !ok {
			i = len(groups)
			index[c] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], t)
	}
	return groups
}
