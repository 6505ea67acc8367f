package spread

import "testing"

func TestFormat(t *testing.T) {
	for _, c := range []struct {
		v    Of
		want string
	}{
		{nil, "–"},
		{Of{254}, "254"},
		{Of{260, 250, 254}, "254 (250–260)"},
		{Of{3, 1}, "2 (1–3)"},
	} {
		if got := c.v.Format("%.0f"); got != c.want {
			t.Errorf("%v: %q, want %q", c.v, got, c.want)
		}
	}
}
