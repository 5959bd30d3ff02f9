package jsonscan

import "testing"

func TestSkip(t *testing.T) {
	for _, c := range []struct {
		in   string
		at   int
		want int
	}{
		{`"a\"b" x`, 0, 6}, {`"ab`, 0, 3}, {`{"a":"}","b":[1,{"c":"]"}]} ,`, 0, 27}, {`[[],[]]`, 0, 7}, {`-1.5e3,`, 0, 6},
		{`true}`, 0, 4}, {`null `, 0, 4}, {`{"a":1`, 0, 6}, {``, 0, 0}, {`1`, 1, 1},
	} {
		if got := SkipValue([]byte(c.in), c.at); got != c.want {
			t.Errorf("SkipValue(%q, %d) = %d, want %d", c.in, c.at, got, c.want)
		}
	}
	if got := SkipSpace([]byte(" \t\r\n x"), 0); got != 5 {
		t.Errorf("SkipSpace = %d, want 5", got)
	}
}

func TestMember(t *testing.T) {
	obj := []byte(` {"a" : [1, {"b":"}"}], "a":"x\"y", "\u0062":null , "k\\":{} } `)
	for key, want := range map[string]string{"a": `"x\"y"`, "b": `null`, `k\`: `{}`, "c": ""} {
		got, ok := Member(obj, key)
		if string(got) != want || ok != (want != "") {
			t.Errorf("Member(%q) = %q %v, want %q", key, got, ok, want)
		}
	}
}
