package jsonscan

// Valid reports whether b is one valid JSON value (surrounded by whitespace or not), as json.Valid does — the
// same grammar, strings' bytes not checked for UTF-8, at most maxJSONDepth arrays and objects open at once — in one
// pass without encoding/json's per-byte state functions: the recorder checks every request, response and event
// it reads JSON-RPC messages from, and json.Valid was about 1.5 µs of a proxied call's recording
// (docs/benchmarks-store.md, "round five"). FuzzValidIsJSONValid holds it to json.Valid.
func Valid(b []byte) bool {
	i := SkipValid(b, SkipSpace(b, 0), 0)
	return i >= 0 && SkipSpace(b, i) == len(b)
}

// SkipValid is the index after the valid JSON value that starts at b[i] (no space before it), or -1 when none does
// there; open is how many arrays and objects are open around it (the value's own count against maxJSONDepth after
// them, as json.Valid counts them in the whole document). A reader that walks a document's outer levels itself
// checks its values with it, so that the document is read once (Valid is SkipValid of the whole document). A
// string, number or literal is checked without more: a reader calls it for each member it skips.
func SkipValid(b []byte, i, open int) int { return SkipValidDeep(b, i, open, nil) }

// SkipValidDeep is SkipValid that keeps the level words of a value deeper than 128 levels in *deep (nil: not
// kept), allocated once and reused by the next call: a reader that checks many members with it (a stranger's
// body of many members each more than 128 levels deep) allocates them once a body rather than once a member.
func SkipValidDeep(b []byte, i, open int, deep *[]uint64) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '{', '[':
		return skipValidNested(b, i, open, deep)
	case '"':
		return validString(b, i)
	case 't':
		return literal(b, i, "true")
	case 'f':
		return literal(b, i, "false")
	case 'n':
		return literal(b, i, "null")
	}
	return skipNumber(b, i)
}

// skipValidNested is SkipValid of an array or object: one loop over its values, the kind of each level open (object
// or array) a bit in a word of its own; the words for more than 128 levels are allocated when a value goes that deep.
func skipValidNested(b []byte, i, open int, deep *[]uint64) int {
	var shallow [2]uint64
	inObject := shallow[:] // a bit a level (from open on): whether that level is an object
	depth := open
	for {
		// a value starts at i
		if i >= len(b) {
			return -1
		}
		switch c := b[i]; c {
		case '{', '[':
			if depth >= maxJSONDepth {
				return -1
			}
			l := depth - open
			if l/64 >= len(inObject) {
				inObject = deeperLevels(inObject, deep)
			}
			if c == '{' {
				inObject[l/64] |= 1 << (l % 64)
			} else {
				inObject[l/64] &^= 1 << (l % 64)
			}
			depth++
			i = SkipSpace(b, i+1)
			if i < len(b) && (c == '{' && b[i] == '}' || c == '[' && b[i] == ']') {
				depth--
				i++
				break // empty: the value ends here
			}
			if c == '{' {
				if i = memberKey(b, i); i < 0 {
					return -1
				}
			}
			continue // its first value
		case '"':
			if i = validString(b, i); i < 0 {
				return -1
			}
		case 't':
			if i = literal(b, i, "true"); i < 0 {
				return -1
			}
		case 'f':
			if i = literal(b, i, "false"); i < 0 {
				return -1
			}
		case 'n':
			if i = literal(b, i, "null"); i < 0 {
				return -1
			}
		default:
			if i = skipNumber(b, i); i < 0 {
				return -1
			}
		}
		// a value ended at i: close what it ends, up to the next value
		for {
			if depth == open {
				return i
			}
			i = SkipSpace(b, i)
			if i >= len(b) {
				return -1
			}
			l := depth - 1 - open
			obj := inObject[l/64]&(1<<(l%64)) != 0
			c := b[i]
			if c == '}' && obj || c == ']' && !obj {
				depth--
				i++
				continue
			}
			if c != ',' {
				return -1
			}
			i = SkipSpace(b, i+1)
			if obj {
				if i = memberKey(b, i); i < 0 {
					return -1
				}
			}
			break
		}
	}
}

// deeperLevels is levels with room for every level a value can open: *deep when kept (nil: not kept), else new.
func deeperLevels(levels []uint64, deep *[]uint64) []uint64 {
	var all []uint64
	if deep != nil {
		all = *deep
	}
	if all == nil {
		all = make([]uint64, maxJSONDepth/64+1)
		if deep != nil {
			*deep = all
		}
	}
	copy(all, levels) // the words past them are set as their levels open
	return all
}

// maxJSONDepth is encoding/json's bound on the arrays and objects open at once (its maxNestingDepth).
const maxJSONDepth = 10000

// SkipSpace is the index of the first byte of b from i on that is not JSON whitespace (len(b) when none).
func SkipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// memberKey skips an object member's key, its colon and the space after it, from i (its opening quote); -1 when
// they are not there.
func memberKey(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	if i = validString(b, i); i < 0 {
		return -1
	}
	i = SkipSpace(b, i)
	if i >= len(b) || b[i] != ':' {
		return -1
	}
	return SkipSpace(b, i+1)
}

// plainInString marks the bytes a string holds as they are: not a quote, a backslash or a control character.
var plainInString = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// skipString returns the index after the string that starts at b[i] (its opening quote), or -1 when it is not a
// valid one.
func validString(b []byte, i int) int {
	i++
	for {
		for i < len(b) && plainInString[b[i]] {
			i++
		}
		if i >= len(b) {
			return -1
		}
		switch b[i] {
		case '"':
			return i + 1
		case '\\':
			i++
			if i >= len(b) {
				return -1
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if i+4 >= len(b) {
					return -1
				}
				for _, h := range b[i+1 : i+5] {
					if !isHex(h) {
						return -1
					}
				}
				i += 5
			default:
				return -1
			}
		default:
			return -1 // a control character
		}
	}
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// literal returns the index after word at b[i], or -1 when b does not hold it there.
func literal(b []byte, i int, word string) int {
	if len(b)-i < len(word) || string(b[i:i+len(word)]) != word {
		return -1
	}
	return i + len(word)
}

// skipNumber returns the index after the number that starts at b[i], or -1 when none does: -?(0|[1-9][0-9]*),
// then an optional fraction and exponent.
func skipNumber(b []byte, i int) int {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = skipDigits(b, i+1)
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		j := skipDigits(b, i+1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := skipDigits(b, i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

func skipDigits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}
