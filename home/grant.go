package home

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	// Grants name IANA time zones, and a device must evaluate them even when
	// its system has no zoneinfo (small devices often have none): the
	// database is embedded (about 450 KB).
	_ "time/tzdata"

	"github.com/coconet/coconet/identity"
)

// Grant gives a guest the use of a capability (or one of its commands) on
// some resources, or on every resource of a zone, on a weekly schedule
// and/or within a validity interval. A grant with neither is valid
// always. The host that serves a resource evaluates grants from its own
// ledger copy, against its own clock, in the grant's time zone. Revoking a
// grant deletes its record.
type Grant struct {
	// ID is the grant's record key (set by Store.Grant).
	ID   string          `json:"id,omitempty"`
	User identity.UserID `json:"user"`
	// Resources and Zone say what the grant covers: the resources listed,
	// and every resource placed in Zone.
	Resources  []string `json:"resources,omitempty"`
	Zone       string   `json:"zone,omitempty"`
	Capability string   `json:"capability"`
	// Command narrows the grant to one command; "" allows all the
	// capability's commands.
	Command string `json:"command,omitempty"`
	// Windows are the weekly hours the grant is usable; none means any time.
	Windows []Window `json:"windows,omitempty"`
	// TZ is the IANA time zone of the windows and of dates given without
	// one, e.g. "Asia/Kolkata"; "" means UTC.
	TZ string `json:"tz,omitempty"`
	// ValidFrom and Until bound the grant in time (zero: unbounded).
	ValidFrom time.Time `json:"valid_from,omitzero"`
	Until     time.Time `json:"until,omitzero"`

	// Filled in when read from the ledger, not stored.
	UserName  string    `json:"user_name,omitempty"`
	GrantedBy string    `json:"granted_by,omitempty"`
	Created   time.Time `json:"created,omitzero"`

	loc *time.Location
}

// Window is a weekly time window in the grant's time zone: on each of
// Days (mon … sun; none means every day) from From to To ("HH:MM", To
// exclusive, "24:00" for midnight). A To not after From ends the next day:
// fri 22:00–02:00 runs from Friday 22:00 to Saturday 02:00; From equal to
// To is 24 hours. Times are wall-clock times: on the day clocks go forward,
// an hour that does not exist is never inside a window; on the day they go
// back, an hour that happens twice is inside twice.
type Window struct {
	Days []string `json:"days,omitempty"`
	From string   `json:"from"`
	To   string   `json:"to"`
}

var dayNames = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// ParseDays reads a day list: "tue,thu", "mon-fri", "weekdays", "weekend",
// "daily" (or "" for every day). Days are returned in week order (mon first).
func ParseDays(s string) ([]string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	switch s {
	case "", "daily", "every", "all":
		return nil, nil
	case "weekdays":
		return []string{"mon", "tue", "wed", "thu", "fri"}, nil
	case "weekend", "weekends":
		return []string{"sat", "sun"}, nil
	}
	var mask [7]bool
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if a, b, ok := strings.Cut(part, "-"); ok {
			i, err := dayIndex(a)
			if err != nil {
				return nil, err
			}
			j, err := dayIndex(b)
			if err != nil {
				return nil, err
			}
			for k := i; ; k = (k + 1) % 7 {
				mask[k] = true
				if k == j {
					break
				}
			}
			continue
		}
		i, err := dayIndex(part)
		if err != nil {
			return nil, err
		}
		mask[i] = true
	}
	var out []string
	for _, i := range []int{1, 2, 3, 4, 5, 6, 0} {
		if mask[i] {
			out = append(out, dayNames[i])
		}
	}
	return out, nil
}

func dayIndex(s string) (int, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) >= 3 {
		for i, d := range dayNames {
			full := strings.ToLower(time.Weekday(i).String())
			if s == d || s == full {
				return i, nil
			}
		}
	}
	return 0, fmt.Errorf("%q is not a day; use mon, tue, wed, thu, fri, sat or sun", s)
}

// parseClock reads "HH:MM" as minutes after midnight (0–1440).
func parseClock(s string) (int, error) {
	h, m, ok := strings.Cut(strings.TrimSpace(s), ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || len(m) != 2 || hh < 0 || hh > 24 || mm < 0 || mm > 59 || (hh == 24 && mm != 0) {
		return 0, fmt.Errorf("%q is not a time of day; use HH:MM, e.g. 09:30", s)
	}
	return hh*60 + mm, nil
}

// window is a Window parsed: days as a bitmask (bit i = time.Weekday(i)),
// from and to in minutes after midnight.
type window struct {
	days     uint8
	from, to int
}

func (w Window) parse() (window, error) {
	var pw window
	if len(w.Days) == 0 {
		pw.days = 0x7f
	}
	for _, d := range w.Days {
		i, err := dayIndex(d)
		if err != nil {
			return pw, err
		}
		pw.days |= 1 << i
	}
	var err error
	if pw.from, err = parseClock(w.From); err != nil {
		return pw, err
	}
	if pw.to, err = parseClock(w.To); err != nil {
		return pw, err
	}
	if pw.from == 1440 {
		return pw, fmt.Errorf("a window cannot start at 24:00; use 00:00 of the next day")
	}
	return pw, nil
}

// contains reports whether the wall-clock minute tod of weekday wd falls in
// the window.
func (w window) contains(wd time.Weekday, tod int) bool {
	on := func(d time.Weekday) bool { return w.days&(1<<((int(d)+7)%7)) != 0 }
	if w.from < w.to {
		return on(wd) && tod >= w.from && tod < w.to
	}
	// Across midnight (or 24 hours when from == to).
	return (on(wd) && tod >= w.from) || (on(wd-1) && tod < w.to)
}

func (w Window) String() string {
	days := "daily"
	if len(w.Days) > 0 {
		days = strings.Join(w.Days, ",")
	}
	return fmt.Sprintf("%s %s–%s", days, w.From, w.To)
}

// Check validates the grant and prepares it for Active: a subject, a
// capability, something covered, known days and times, a known time zone,
// a validity interval that is not empty.
func (g *Grant) Check() error {
	if g.User.IsZero() {
		return fmt.Errorf("a grant needs a user")
	}
	if err := validName("capability", g.Capability); err != nil {
		return err
	}
	if g.Command != "" {
		if err := validName("command", g.Command); err != nil {
			return err
		}
	}
	if len(g.Resources) == 0 && g.Zone == "" {
		return fmt.Errorf("a grant needs a resource or a zone")
	}
	for _, r := range g.Resources {
		if err := ValidID(r); err != nil {
			return err
		}
	}
	if g.Zone != "" {
		if err := ValidZone(g.Zone); err != nil {
			return err
		}
	}
	loc, err := loadZone(g.TZ)
	if err != nil {
		return err
	}
	g.loc = loc
	for i, w := range g.Windows {
		if _, err := w.parse(); err != nil {
			return fmt.Errorf("window %d (%s): %w", i+1, w, err)
		}
	}
	if !g.ValidFrom.IsZero() && !g.Until.IsZero() && !g.Until.After(g.ValidFrom) {
		return fmt.Errorf("the grant ends (%s) before it starts (%s)", g.Until.Format(time.RFC3339), g.ValidFrom.Format(time.RFC3339))
	}
	return nil
}

func loadZone(tz string) (*time.Location, error) {
	if tz == "" || tz == "UTC" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("time zone %q is not known; use an IANA name such as Europe/Berlin or Asia/Kolkata", tz)
	}
	return loc, nil
}

// Covers reports whether the grant is about capability.command on the
// resource, which is placed in zone.
func (g *Grant) Covers(resource, zone, capability, command string) bool {
	if g.Capability != capability || (g.Command != "" && command != "" && g.Command != command) {
		return false
	}
	return slices.Contains(g.Resources, resource) || (g.Zone != "" && g.Zone == zone)
}

// Expired reports whether the grant's validity ended at or before now.
func (g *Grant) Expired(now time.Time) bool { return !g.Until.IsZero() && !now.Before(g.Until) }

// Active reports whether the grant's schedule admits the instant now; when
// it does not, reason says why in a sentence ("outside its hours (tue,thu
// 09:00–09:30 Asia/Kolkata); it is Wed 10:12 there"). The grant must have
// passed Check (grants read from the ledger have).
func (g *Grant) Active(now time.Time) (ok bool, reason string) {
	loc := g.loc
	if loc == nil {
		var err error
		if loc, err = loadZone(g.TZ); err != nil {
			return false, err.Error()
		}
	}
	if !g.ValidFrom.IsZero() && now.Before(g.ValidFrom) {
		return false, fmt.Sprintf("the grant starts on %s", g.ValidFrom.In(loc).Format("Mon 2006-01-02 15:04 MST"))
	}
	if g.Expired(now) {
		return false, fmt.Sprintf("the grant expired on %s", g.Until.In(loc).Format("Mon 2006-01-02 15:04 MST"))
	}
	if len(g.Windows) == 0 {
		return true, ""
	}
	local := now.In(loc)
	tod := local.Hour()*60 + local.Minute()
	var ws []string
	for _, w := range g.Windows {
		pw, err := w.parse()
		if err != nil {
			return false, err.Error()
		}
		if pw.contains(local.Weekday(), tod) {
			return true, ""
		}
		ws = append(ws, w.String())
	}
	return false, fmt.Sprintf("outside the grant's hours (%s %s); it is %s there",
		strings.Join(ws, "; "), loc, local.Format("Mon 15:04"))
}

// ParseTime reads a date and time for --valid-from and --until: RFC 3339
// ("2026-05-01T09:00:00+05:30"), or "2026-05-01 09:00", "2026-05-01T09:00"
// or "2026-05-01" (midnight) in the time zone tz ("" is UTC).
func ParseTime(s, tz string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	loc, err := loadZone(tz)
	if err != nil {
		return time.Time{}, err
	}
	for _, layout := range []string{"2006-01-02 15:04", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date and time; use 2026-05-01, \"2026-05-01 09:00\" or RFC 3339", s)
}

// Describe summarizes the grant for people: "lock.unlock on front-door,
// tue,thu 09:00–09:30 (Asia/Kolkata), until 2026-06-01 00:00 IST".
func (g *Grant) Describe() string {
	var b strings.Builder
	b.WriteString(g.Capability)
	if g.Command != "" {
		b.WriteString("." + g.Command)
	}
	b.WriteString(" on ")
	var what []string
	what = append(what, g.Resources...)
	if g.Zone != "" {
		what = append(what, "zone "+g.Zone)
	}
	b.WriteString(strings.Join(what, ", "))
	loc, err := loadZone(g.TZ)
	if err != nil {
		loc = time.UTC
	}
	if len(g.Windows) > 0 {
		var ws []string
		for _, w := range g.Windows {
			ws = append(ws, w.String())
		}
		fmt.Fprintf(&b, ", %s (%s)", strings.Join(ws, "; "), loc)
	}
	if !g.ValidFrom.IsZero() {
		fmt.Fprintf(&b, ", from %s", g.ValidFrom.In(loc).Format("2006-01-02 15:04 MST"))
	}
	if !g.Until.IsZero() {
		fmt.Fprintf(&b, ", until %s", g.Until.In(loc).Format("2006-01-02 15:04 MST"))
	}
	return b.String()
}
