package home

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
)

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

var someone = identity.UserID{1}

// TestGrantActive is the table test of the pure evaluation.
func TestGrantActive(t *testing.T) {
	kolkata := Grant{User: someone, Resources: []string{"front-door"}, Capability: "lock", Command: "unlock", TZ: "Asia/Kolkata",
		Windows: []Window{{Days: []string{"tue", "thu"}, From: "09:00", To: "09:30"}}}
	night := Grant{User: someone, Resources: []string{"r"}, Capability: "on_off", TZ: "Europe/Paris",
		Windows: []Window{{Days: []string{"fri"}, From: "22:00", To: "02:00"}}}
	berlin := Grant{User: someone, Resources: []string{"r"}, Capability: "lock", TZ: "Europe/Berlin",
		Windows: []Window{{Days: []string{"sun"}, From: "09:00", To: "09:30"}}}
	berlinNight := Grant{User: someone, Resources: []string{"r"}, Capability: "lock", TZ: "Europe/Berlin",
		Windows: []Window{{Days: []string{"sat"}, From: "23:00", To: "04:00"}}}
	berlinGap := Grant{User: someone, Resources: []string{"r"}, Capability: "lock", TZ: "Europe/Berlin",
		Windows: []Window{{Days: []string{"sun"}, From: "02:00", To: "03:00"}}}
	nyBack := Grant{User: someone, Resources: []string{"r"}, Capability: "lock", TZ: "America/New_York",
		Windows: []Window{{Days: []string{"sun"}, From: "01:00", To: "02:00"}}}
	validity := Grant{User: someone, Resources: []string{"r"}, Capability: "lock",
		ValidFrom: mustTime(t, "2026-05-01T00:00:00Z"), Until: mustTime(t, "2026-05-08T00:00:00Z")}
	both := validity
	both.Windows = []Window{{From: "08:00", To: "20:00"}}
	always := Grant{User: someone, Resources: []string{"r"}, Capability: "lock"}
	whole := Grant{User: someone, Resources: []string{"r"}, Capability: "lock", Windows: []Window{{Days: []string{"mon"}, From: "00:00", To: "24:00"}}}
	twentyFour := Grant{User: someone, Resources: []string{"r"}, Capability: "lock", Windows: []Window{{Days: []string{"mon"}, From: "12:00", To: "12:00"}}}

	for _, tc := range []struct {
		name string
		g    Grant
		now  string
		want bool
	}{
		// 2026-05-05 is a Tuesday. Kolkata is UTC+05:30.
		{"kolkata tue 09:00 (start, inclusive)", kolkata, "2026-05-05T03:30:00Z", true},
		{"kolkata tue 09:10", kolkata, "2026-05-05T03:40:00Z", true},
		{"kolkata tue 09:29:59", kolkata, "2026-05-05T03:59:59Z", true},
		{"kolkata tue 09:30 (end, exclusive)", kolkata, "2026-05-05T04:00:00Z", false},
		{"kolkata tue 08:59", kolkata, "2026-05-05T03:29:00Z", false},
		{"kolkata wed 09:10", kolkata, "2026-05-06T03:40:00Z", false},
		{"kolkata thu 09:10", kolkata, "2026-05-07T03:40:00Z", true},
		{"kolkata: 09:10 in UTC is not 09:10 there", kolkata, "2026-05-05T09:10:00Z", false},
		// Across midnight: Friday 22:00 to Saturday 02:00 in Paris (CEST, UTC+2). 2026-05-08 is a Friday.
		{"night fri 21:59", night, "2026-05-08T19:59:00Z", false},
		{"night fri 22:00", night, "2026-05-08T20:00:00Z", true},
		{"night sat 01:59", night, "2026-05-08T23:59:00Z", true},
		{"night sat 02:00", night, "2026-05-09T00:00:00Z", false},
		{"night sat 22:30 (saturday is not listed)", night, "2026-05-09T20:30:00Z", false},
		{"night thu 23:00", night, "2026-05-07T21:00:00Z", false},
		// Berlin goes from CET (UTC+1) to CEST (UTC+2) at 02:00 on Sunday 2026-03-29.
		{"berlin DST day 09:10 CEST", berlin, "2026-03-29T07:10:00Z", true},
		{"berlin DST day 10:10 CEST (09:10 in CET)", berlin, "2026-03-29T08:10:00Z", false},
		{"berlin sunday before, 09:10 CET", berlin, "2026-03-22T08:10:00Z", true},
		{"berlin night across the change, 23:30 CET", berlinNight, "2026-03-28T22:30:00Z", true},
		{"berlin night across the change, 01:59 CET", berlinNight, "2026-03-29T00:59:00Z", true},
		{"berlin night across the change, 03:30 CEST", berlinNight, "2026-03-29T01:30:00Z", true},
		{"berlin night across the change, 04:00 CEST", berlinNight, "2026-03-29T02:00:00Z", false},
		{"berlin 02:00–03:00 does not exist that day (01:59 CET)", berlinGap, "2026-03-29T00:59:00Z", false},
		{"berlin 02:00–03:00 does not exist that day (03:00 CEST)", berlinGap, "2026-03-29T01:00:00Z", false},
		// New York goes back from EDT (UTC-4) to EST (UTC-5) at 02:00 on Sunday 2026-11-01: 01:30 happens twice.
		{"new york 01:30 EDT", nyBack, "2026-11-01T05:30:00Z", true},
		{"new york 01:30 EST (the second time)", nyBack, "2026-11-01T06:30:00Z", true},
		{"new york 02:00 EST", nyBack, "2026-11-01T07:00:00Z", false},
		{"new york 00:59 EDT", nyBack, "2026-11-01T04:59:00Z", false},
		// Validity.
		{"before valid-from", validity, "2026-04-30T23:59:59Z", false},
		{"at valid-from", validity, "2026-05-01T00:00:00Z", true},
		{"just before until", validity, "2026-05-07T23:59:59Z", true},
		{"at until (expired)", validity, "2026-05-08T00:00:00Z", false},
		{"window and validity, inside both", both, "2026-05-03T12:00:00Z", true},
		{"window and validity, outside the window", both, "2026-05-03T21:00:00Z", false},
		{"window and validity, after expiry", both, "2026-05-09T12:00:00Z", false},
		{"always", always, "2030-01-01T00:00:00Z", true},
		{"whole monday to 24:00, 23:59", whole, "2026-05-04T23:59:00Z", true},
		{"whole monday to 24:00, tuesday 00:00", whole, "2026-05-05T00:00:00Z", false},
		{"from == to is 24 h, tue 11:59", twentyFour, "2026-05-05T11:59:00Z", true},
		{"from == to is 24 h, tue 12:00", twentyFour, "2026-05-05T12:00:00Z", false},
		{"from == to is 24 h, mon 11:59", twentyFour, "2026-05-04T11:59:00Z", false},
	} {
		g := tc.g
		if err := g.Check(); err != nil {
			t.Fatalf("%s: Check: %v", tc.name, err)
		}
		now := mustTime(t, tc.now)
		got, why := g.Active(now)
		if got != tc.want {
			t.Errorf("%s: Active(%s) = %v (%s), want %v", tc.name, tc.now, got, why, tc.want)
		}
		if !got && why == "" {
			t.Errorf("%s: refused without a reason", tc.name)
		}
	}
}

func TestGrantReasons(t *testing.T) {
	g := Grant{User: someone, Resources: []string{"front-door"}, Capability: "lock", TZ: "Asia/Kolkata",
		Windows: []Window{{Days: []string{"tue", "thu"}, From: "09:00", To: "09:30"}}}
	if err := g.Check(); err != nil {
		t.Fatal(err)
	}
	_, why := g.Active(mustTime(t, "2026-05-06T04:42:00Z"))
	if want := "outside the grant's hours (tue,thu 09:00–09:30 Asia/Kolkata); it is Wed 10:12 there"; why != want {
		t.Errorf("reason = %q, want %q", why, want)
	}
	err := decide("carol", ledger.RoleGuest, []Grant{g}, "front-door", "", "lock", "unlock", mustTime(t, "2026-05-06T04:42:00Z"))
	if err == nil || !strings.Contains(err.Error(), "carol (guest) may not use lock.unlock on front-door now: outside") {
		t.Errorf("decide = %v", err)
	}
	err = decide("carol", ledger.RoleGuest, []Grant{g}, "front-door", "", "on_off", "on", mustTime(t, "2026-05-05T03:40:00Z"))
	if err == nil || err.Error() != "carol (guest) has no grant for on_off.on on front-door" {
		t.Errorf("decide = %v", err)
	}
}

func TestGrantCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		g    Grant
		want string
	}{
		{"no user", Grant{Resources: []string{"r"}, Capability: "lock"}, "needs a user"},
		{"nothing covered", Grant{User: someone, Capability: "lock"}, "a resource or a zone"},
		{"bad tz", Grant{User: someone, Resources: []string{"r"}, Capability: "lock", TZ: "Mars/Olympus"}, "not known"},
		{"bad day", Grant{User: someone, Resources: []string{"r"}, Capability: "lock", Windows: []Window{{Days: []string{"funday"}, From: "09:00", To: "10:00"}}}, "not a day"},
		{"bad time", Grant{User: someone, Resources: []string{"r"}, Capability: "lock", Windows: []Window{{From: "9", To: "10:00"}}}, "not a time of day"},
		{"25:00", Grant{User: someone, Resources: []string{"r"}, Capability: "lock", Windows: []Window{{From: "09:00", To: "25:00"}}}, "not a time of day"},
		{"ends before it starts", Grant{User: someone, Resources: []string{"r"}, Capability: "lock",
			ValidFrom: time.Unix(100, 0), Until: time.Unix(50, 0)}, "before it starts"},
	} {
		err := tc.g.Check()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Check = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestParseDays(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"tue,thu", "tue,thu"},
		{"Thursday, tue", "tue,thu"},
		{"mon-fri", "mon,tue,wed,thu,fri"},
		{"fri-mon", "mon,fri,sat,sun"},
		{"weekend", "sat,sun"},
		{"", ""},
	} {
		got, err := ParseDays(tc.in)
		if err != nil || strings.Join(got, ",") != tc.want {
			t.Errorf("ParseDays(%q) = %v, %v, want %s", tc.in, got, err, tc.want)
		}
	}
	if _, err := ParseDays("tue,someday"); err == nil {
		t.Error("ParseDays(someday) succeeded")
	}
}

// refActive is a naive reference model of the schedule part of Active: a
// bitmap of the minutes of the week the windows cover, looked up at the
// local wall-clock minute.
func refActive(g Grant, now time.Time) bool {
	if !g.ValidFrom.IsZero() && now.Before(g.ValidFrom) {
		return false
	}
	if !g.Until.IsZero() && !now.Before(g.Until) {
		return false
	}
	if len(g.Windows) == 0 {
		return true
	}
	var week [7 * 1440]bool
	for _, w := range g.Windows {
		days := w.Days
		if len(days) == 0 {
			days = dayNames
		}
		from, _ := parseClock(w.From)
		to, _ := parseClock(w.To)
		length := to - from
		if length <= 0 {
			length += 1440
		}
		for _, d := range days {
			di, _ := dayIndex(d)
			for m := 0; m < length; m++ {
				week[(di*1440+from+m)%len(week)] = true
			}
		}
	}
	loc, _ := time.LoadLocation(g.TZ)
	l := now.In(loc)
	return week[int(l.Weekday())*1440+l.Hour()*60+l.Minute()]
}

// TestGrantReferenceModel compares Active with the reference model on
// random windows and instants around daylight-saving changes.
func TestGrantReferenceModel(t *testing.T) {
	zones := []string{"UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "America/Santiago"}
	r := rand.New(rand.NewPCG(1, 2))
	clockOf := func(m int) string {
		return time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(m) * time.Minute).Format("15:04")
	}
	base := mustTime(t, "2026-01-01T00:00:00Z")
	for i := 0; i < 1000; i++ {
		g := Grant{User: someone, Resources: []string{"r"}, Capability: "lock", TZ: zones[r.IntN(len(zones))]}
		for j := r.IntN(3); j >= 0; j-- {
			var days []string
			for _, d := range dayNames {
				if r.IntN(3) == 0 {
					days = append(days, d)
				}
			}
			w := Window{Days: days, From: clockOf(r.IntN(96) * 15), To: clockOf(r.IntN(96) * 15)}
			if r.IntN(10) == 0 {
				w.To = "24:00"
			}
			g.Windows = append(g.Windows, w)
		}
		if r.IntN(4) == 0 {
			g.ValidFrom = base.Add(time.Duration(r.IntN(365*24)) * time.Hour)
			g.Until = g.ValidFrom.Add(time.Duration(1+r.IntN(60*24)) * time.Hour)
		}
		if err := g.Check(); err != nil {
			t.Fatalf("Check(%+v): %v", g, err)
		}
		for k := 0; k < 20; k++ {
			now := base.Add(time.Duration(r.IntN(365*24*60)) * time.Minute).Add(time.Duration(r.IntN(60)) * time.Second)
			got, _ := g.Active(now)
			if want := refActive(g, now); got != want {
				t.Fatalf("Active(%+v, %s) = %v, reference model says %v", g, now, got, want)
			}
		}
	}
}

func FuzzGrantRecord(f *testing.F) {
	f.Add([]byte(`{"user":"` + someone.String() + `","resources":["front-door"],"capability":"lock","command":"unlock","windows":[{"days":["tue","thu"],"from":"09:00","to":"09:30"}],"tz":"Asia/Kolkata"}`))
	f.Add([]byte(`{"user":"` + someone.String() + `","zone":"Kitchen","capability":"on_off","valid_from":"2026-05-01T00:00:00Z","until":"2026-05-08T00:00:00Z"}`))
	f.Add([]byte(`{"windows":[{"from":"24:00","to":"00:00"}]}`))
	st := &ledger.State{Members: map[identity.UserID]*ledger.Member{}}
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := decodeGrant(st, &ledger.Record{Key: "g1", Value: b})
		if err != nil {
			return
		}
		// A grant that decodes evaluates without panicking, and agrees
		// with the reference model.
		now := time.Unix(1_780_000_000, 0)
		got, _ := g.Active(now)
		if want := refActive(g, now); got != want {
			t.Fatalf("Active = %v, reference %v for %s", got, want, b)
		}
		g.Covers("r", "z", "lock", "unlock")
		g.Describe()
	})
}

// TestDecideReferenceModel compares decide with a naive statement of the
// roles matrix and grants on random cases.
func TestDecideReferenceModel(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	now := mustTime(t, "2026-05-05T03:40:00Z") // Tue 09:10 in Kolkata
	for i := 0; i < 5000; i++ {
		role := []ledger.Role{ledger.RoleNone, ledger.RoleGuest, ledger.RoleGuest, ledger.RoleAdmin, ledger.RoleOwner}[r.IntN(5)]
		var grants []Grant
		for j := r.IntN(4); j > 0; j-- {
			g := Grant{User: someone, Capability: pick("lock", "on_off", "firmware"), Command: pick("", "unlock", "on"), TZ: "Asia/Kolkata"}
			if r.IntN(2) == 0 {
				g.Resources = []string{pick("a", "b")}
			} else {
				g.Zone = pick("hall", "garden")
			}
			switch r.IntN(3) {
			case 1:
				g.Windows = []Window{{Days: []string{"tue"}, From: "09:00", To: "09:30"}}
			case 2:
				g.Windows = []Window{{Days: []string{"wed"}, From: "09:00", To: "09:30"}}
			}
			if err := g.Check(); err != nil {
				t.Fatal(err)
			}
			grants = append(grants, g)
		}
		res, zone, capability, command := pick("a", "b"), pick("hall", "garden", ""), pick("lock", "on_off", "firmware"), pick("unlock", "on", "lock")
		want := false
		switch {
		case role == ledger.RoleOwner:
			want = true
		case role == ledger.RoleAdmin:
			want = capability != "firmware"
		case role == ledger.RoleGuest && capability != "firmware":
			for _, g := range grants {
				where := (len(g.Resources) > 0 && g.Resources[0] == res) || (g.Zone != "" && g.Zone == zone)
				if where && g.Capability == capability && (g.Command == "" || g.Command == command) && refActive(g, now) {
					want = true
				}
			}
		case role == ledger.RoleGuest: // firmware is the owner's alone, granted or not
		}
		got := decide("x", role, grants, res, zone, capability, command, now) == nil
		if got != want {
			t.Fatalf("decide(%s, %+v, %s %s %s.%s) = %v, reference %v", role, grants, res, zone, capability, command, got, want)
		}
	}
}
