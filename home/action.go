package home

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Action is one command on one resource: RESOURCE:CAPABILITY:COMMAND with
// arguments. Argument values may be strings ("140"); the host converts
// them to the parameters' types.
type Action struct {
	Resource   string         `json:"resource"`
	Capability string         `json:"capability"`
	Command    string         `json:"command"`
	Args       map[string]any `json:"args,omitempty"`
}

// ParseAction reads "RESOURCE:CAPABILITY:COMMAND[:k=v…]", e.g.
// "bulb-1:level:set:level=40".
func ParseAction(s string) (Action, error) {
	parts := strings.Split(s, ":")
	if len(parts) < 3 {
		return Action{}, fmt.Errorf("action %q is not RESOURCE:CAPABILITY:COMMAND[:k=v…]", s)
	}
	a := Action{Resource: parts[0], Capability: parts[1], Command: parts[2]}
	args, err := ParseArgs(parts[3:])
	if err != nil {
		return Action{}, fmt.Errorf("action %q: %w", s, err)
	}
	a.Args = args
	return a, a.check()
}

// ParseArgs reads k=v arguments as strings (the host converts them).
func ParseArgs(kvs []string) (map[string]any, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	out := map[string]any{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("argument %q is not k=v", kv)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("argument %s given twice", k)
		}
		out[k] = v
	}
	return out, nil
}

func (a Action) String() string {
	s := a.Resource + ":" + a.Capability + ":" + a.Command
	keys := make([]string, 0, len(a.Args))
	for k := range a.Args {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s += fmt.Sprintf(":%s=%v", k, a.Args[k])
	}
	return s
}

// check validates the names of an action (not its arguments: the host
// that serves the resource knows their types).
func (a Action) check() error {
	if err := ValidID(a.Resource); err != nil {
		return err
	}
	if err := validName("capability", a.Capability); err != nil {
		return err
	}
	if err := validName("command", a.Command); err != nil {
		return err
	}
	if len(a.Args) > 32 {
		return fmt.Errorf("%s has %d arguments, more than 32", a.Resource, len(a.Args))
	}
	for k, v := range a.Args {
		if err := validName("parameter", k); err != nil {
			return err
		}
		switch v.(type) {
		case string, bool, float64, int, int64, nil:
		default:
			return fmt.Errorf("argument %s is not a string, number or bool", k)
		}
	}
	return nil
}

// Change is a new value of an attribute, as published by the host serving
// the resource on the topic home/RESOURCE/CAPABILITY/ATTRIBUTE.
type Change struct {
	Resource   string    `json:"resource"`
	Capability string    `json:"capability"`
	Attribute  string    `json:"attribute"`
	Value      any       `json:"value"`
	Type       Type      `json:"type,omitempty"`
	Device     string    `json:"device,omitempty"`
	Time       time.Time `json:"time"`
	// Retained is set on the last value a watch receives when it starts.
	Retained bool `json:"retained,omitempty"`
}

// Result is the outcome of one action.
type Result struct {
	Action Action `json:"action,omitzero"`
	Device string `json:"device,omitempty"`
	Node   string `json:"node,omitempty"`
	OK     bool   `json:"ok"`
	// Code classifies a failure (see the Code constants); Error says it in
	// a sentence.
	Code    Code          `json:"code,omitempty"`
	Error   string        `json:"error,omitempty"`
	Changes []Change      `json:"changes,omitempty"`
	Took    time.Duration `json:"took_ns"`
}

// Err returns the failure as an error matching ErrDenied, ErrInvalid, …
// with errors.Is; nil when the action succeeded.
func (r Result) Err() error {
	if r.OK {
		return nil
	}
	return &ActionError{Action: r.Action, Code: r.Code, Msg: r.Error}
}

func failed(a Action, code Code, format string, args ...any) Result {
	return Result{Action: a, Code: code, Error: fmt.Sprintf(format, args...)}
}

// SceneResult is the outcome of a scene: one result per action, in the
// scene's order.
type SceneResult struct {
	Scene   string        `json:"scene,omitempty"`
	Results []Result      `json:"results"`
	Failed  int           `json:"failed"`
	Took    time.Duration `json:"took_ns"`
}

// Err summarizes the failed actions, nil when all succeeded.
func (s SceneResult) Err() error {
	if s.Failed == 0 {
		return nil
	}
	var lines []string
	for _, r := range s.Results {
		if !r.OK {
			lines = append(lines, fmt.Sprintf("%s: %s", r.Action, r.Error))
		}
	}
	const show = 10
	more := ""
	if len(lines) > show {
		more = fmt.Sprintf("\n  … and %d more", len(lines)-show)
		lines = lines[:show]
	}
	name := "the actions"
	if s.Scene != "" {
		name = "scene " + s.Scene
	}
	return fmt.Errorf("%d of %d actions of %s failed:\n  %s%s", s.Failed, len(s.Results), name, strings.Join(lines, "\n  "), more)
}
