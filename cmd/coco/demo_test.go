package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

// runDemoForTest runs `coco demo` in-process with its temporary directory inside a
// fresh TMPDIR, and returns the exit code, stdout, stderr and that TMPDIR.
func runDemoForTest(t *testing.T, args ...string) (code int, stdout, stderr, tmp string) {
	t.Helper()
	if testing.Short() {
		t.Skip("the demo starts three libp2p nodes")
	}
	tmp = t.TempDir()
	t.Setenv("TMPDIR", tmp)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	code = run(ctx, append([]string{"demo"}, args...), strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String(), tmp
}

func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestDemo(t *testing.T) {
	code, out, errs, tmp := runDemoForTest(t)
	if code != 0 {
		t.Fatalf("coco demo exited %d\nstderr: %s\nstdout:\n%s", code, errs, out)
	}
	if errs != "" {
		t.Errorf("coco demo wrote to stderr: %s", errs)
	}
	for _, want := range []string{
		"1. Alice, Bob and Carol get identities",
		`alice created "home": network n`,
		"alice's node is up at /ip4/127.0.0.1/",
		"2. Alice invites Bob as an admin",
		"alice invites bob as admin: code coco1",
		"bob's role is admin",
		"bob → alice: path direct over ",
		"encrypted end to end with ",
		"Ed25519 node key",
		"3. Alice invites Carol as a guest",
		"carol's role is guest",
		"carol → alice: path direct",
		"alice  owner",
		"bob    admin",
		"carol  guest",
		"4. Members send messages",
		`alice received "hi alice, bob here" from bob`,
		`bob received "welcome, bob!" from alice`,
		`alice received "thanks for the invite" from carol`,
		"5. Alice adds a gateway",
		"shows a one-time claim code: cocodev1",
		`her device "Hub"`,
		"front-door     Front door         lock, battery",
		"6. Bob defines zones and a scene",
		"alice runs it: 4 actions at once, 0 failed",
		"front-door:lock:lock               ok",
		"7. Carol may unlock the front door",
		"carol unlocks the front door — ok",
		"refused — front-door:lock:unlock: carol (guest) may not use lock.unlock on front-door now: outside the grant's hours",
		"and the lamp, which no grant gives her: refused",
		"8. Alice removes Carol",
		"alice removed carol (guest)",
		"carol → alice: not delivered",
		"but alice is online",
		"carol redeems her old invite code again",
		"did not accept this code",
		"9. Alice and Bob share an encrypted drive", "10. Summary.",
		"the temporary homes are removed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the narration lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "acknowledged in ") != 4 {
		t.Errorf("want 4 acknowledgement times:\n%s", out)
	}
	if l := leftovers(t, tmp); len(l) > 0 {
		t.Errorf("the demo left %v in its temporary directory", l)
	}
}

type demoStep struct {
	Step    int            `json:"step"`
	Title   string         `json:"title"`
	Details map[string]any `json:"details"`
}

func TestDemoJSON(t *testing.T) {
	code, out, errs, tmp := runDemoForTest(t, "--json", "--keep")
	if code != 0 {
		t.Fatalf("coco demo --json exited %d\nstderr: %s\nstdout:\n%s", code, errs, out)
	}
	var steps []demoStep
	dec := json.NewDecoder(strings.NewReader(out))
	for {
		var s demoStep
		if err := dec.Decode(&s); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("output is not a stream of JSON objects: %v\n%s", err, out)
		}
		steps = append(steps, s)
	}
	if n := strings.Count(strings.TrimSpace(out), "\n") + 1; n != len(steps) {
		t.Errorf("want one JSON object per line, got %d lines for %d steps", n, len(steps))
	}
	if len(steps) != 10 {
		t.Fatalf("want 10 steps, got %d:\n%s", len(steps), out)
	}
	for i, s := range steps {
		if s.Step != i+1 || s.Title == "" || s.Details == nil {
			t.Errorf("step %d: %+v", i+1, s)
		}
	}
	str := func(step int, key string) string {
		v, _ := steps[step-1].Details[key].(string)
		return v
	}
	if !strings.HasPrefix(str(1, "network"), "n") {
		t.Errorf("step 1 network = %q", str(1, "network"))
	}
	if users, _ := steps[0].Details["users"].(map[string]any); len(users) != 3 {
		t.Errorf("step 1 users = %v", steps[0].Details["users"])
	}
	if str(2, "role") != "admin" || str(3, "role") != "guest" {
		t.Errorf("roles: step 2 %q, step 3 %q", str(2, "role"), str(3, "role"))
	}
	if c := str(2, "code"); !strings.HasPrefix(c, "coco1") || !strings.Contains(c, "…") {
		t.Errorf("step 2 code = %q, want a shortened invite code", c)
	}
	link, _ := steps[1].Details["link"].(map[string]any)
	if link["path"] != "direct" || (link["transport"] != "tcp" && link["transport"] != "quic") || link["node_key"] != "Ed25519" {
		t.Errorf("step 2 link = %v", link)
	}
	members, _ := steps[2].Details["members"].([]any)
	var roles []string
	for _, m := range members {
		m, _ := m.(map[string]any)
		roles = append(roles, m["name"].(string)+"="+m["role"].(string))
	}
	if strings.Join(roles, " ") != "alice=owner bob=admin carol=guest" {
		t.Errorf("step 3 members = %v", roles)
	}
	msgs, _ := steps[3].Details["messages"].([]any)
	if len(msgs) != 3 {
		t.Fatalf("step 4 messages = %v", steps[3].Details["messages"])
	}
	for _, m := range msgs {
		m, _ := m.(map[string]any)
		if m["received_from"] != m["from"] {
			t.Errorf("step 4: %v", m)
		}
	}
	if res, _ := steps[4].Details["resources"].([]any); len(res) < 5 {
		t.Errorf("step 5 resources = %v", steps[4].Details["resources"])
	}
	if sc, _ := steps[5].Details["scene"].([]any); len(sc) != len(demoScene) {
		t.Errorf("step 6 scene = %v", steps[5].Details["scene"])
	}
	if !strings.Contains(str(7, "outside_error"), "outside the grant's hours") || str(7, "lamp_error") == "" {
		t.Errorf("step 7 details = %v", steps[6].Details)
	}
	if str(8, "removed") != "carol" || str(8, "send_error") == "" || str(8, "transport_error") == "" ||
		!strings.Contains(str(8, "rejoin_error"), "refused") {
		t.Errorf("step 8 details = %v", steps[7].Details)
	}
	if str(9, "read_by") != "bob" || str(9, "path") != "notes/spare-key.txt" || steps[8].Details["plaintext_on_disk"] != false {
		t.Errorf("step 9 details = %v", steps[8].Details)
	}
	dir := str(10, "dir")
	if dir == "" || !strings.HasPrefix(dir, tmp) {
		t.Fatalf("step 10 dir = %q, want the kept directory under %s", dir, tmp)
	}
	if _, err := os.Stat(dir + "/alice"); err != nil {
		t.Errorf("--keep did not keep alice's home: %v", err)
	}
}

func TestDemoRejectsArguments(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"demo", "extra"}, strings.NewReader(""), &out, &errb); code != 2 {
		t.Errorf("coco demo extra exited %d, want 2; stderr: %s", code, errb.String())
	}
}

func TestDemoInterrupted(t *testing.T) {
	if testing.Short() {
		t.Skip("starts libp2p nodes")
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(500*time.Millisecond, cancel) // as Ctrl-C would, mid-demo
	var out, errb bytes.Buffer
	code := run(ctx, []string{"demo"}, strings.NewReader(""), &out, &errb)
	if code == 0 {
		t.Skip("the demo finished before the interrupt")
	}
	if !strings.Contains(errb.String(), "coco demo: step ") || !strings.Contains(errb.String(), "interrupted") {
		t.Errorf("stderr = %q, want the failed step and \"interrupted\"", errb.String())
	}
	if l := leftovers(t, tmp); len(l) > 0 {
		t.Errorf("an interrupted demo left %v behind", l)
	}
}
