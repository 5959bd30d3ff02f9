package analysis

import (
	"testing"
	"time"
)

// TestInstantKeepsTheTime: a time kept as an instant (a stage's first, a mark's time) reads back == the time kept,
// its monotonic reading and location included; a capture's times parsed with another offset (a new location each)
// share one location per offset, and read back Equal, shown the same.
func TestInstantKeepsTheTime(t *testing.T) {
	now := time.Now()
	berlin := time.FixedZone("CET", 3600)
	for _, tm := range []time.Time{{}, now, now.UTC(), now.Round(0), now.In(berlin), time.Unix(1, 2).UTC(),
		time.Date(2026, 12, 6, 10, 0, 0, 5, time.Local)} {
		i, loc := instantOf(tm)
		if got := i.time(loc); got != tm {
			t.Errorf("%v read back as %v", tm, got)
		}
	}
	var codes []uint8
	for _, s := range []string{"2026-12-06T10:00:00.5+02:00", "2026-12-06T11:00:00+02:00", "2026-12-06T11:00:00-07:30"} {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		i, loc := instantOf(tm)
		got := i.time(loc)
		if !got.Equal(tm) || got.Format(time.RFC3339Nano) != tm.Format(time.RFC3339Nano) {
			t.Errorf("%v read back as %v", tm, got)
		}
		codes = append(codes, loc)
	}
	if codes[0] != codes[1] || codes[1] == codes[2] {
		t.Errorf("location codes %v: want one per offset", codes)
	}
}
