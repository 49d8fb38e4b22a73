package frontier

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/p3o-rlhf/p3o/host/internal/frontier/slurmtest"
)

// TestSlurmExecutor submits three shell jobs, one failing, as a job array to
// a real single-node Slurm cluster and checks each task's result and output.
func TestSlurmExecutor(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Slurm cluster")
	}
	c := slurmtest.Start(t)
	c.Setenv(t)
	dir := t.TempDir()
	var jobs []Job
	for i, code := range []string{"0", "0", "3"} {
		d := filepath.Join(dir, "runs", string(rune('a'+i)))
		jobs = append(jobs, Job{Name: filepath.Base(d), Dir: d, Log: filepath.Join(d, "run.log"),
			Env:  []string{"MSG=hello " + filepath.Base(d)},
			Argv: []string{"/bin/sh", "-c", `echo "$MSG" > "$0/out.txt"; exit ` + code, d}})
	}
	var lines []string
	ex := &Slurm{Dir: filepath.Join(dir, "slurm"), Jobs: 2, Poll: 300 * time.Millisecond, Progress: func(s string) { lines = append(lines, s) }}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var finished int
	res, err := ex.Run(ctx, jobs, nil, func(Result) { finished++ })
	if err != nil {
		t.Fatal(err)
	}
	if finished != 3 || len(res) != 3 {
		t.Fatalf("got %d results and %d finished callbacks, want 3 and 3", len(res), finished)
	}
	for i, r := range res {
		b, _ := os.ReadFile(filepath.Join(jobs[i].Dir, "out.txt"))
		if got, want := strings.TrimSpace(string(b)), "hello "+jobs[i].Name; got != want {
			t.Errorf("job %d wrote %q, want %q", i, got, want)
		}
		if (r.Err != nil) != (i == 2) {
			t.Errorf("job %d: got error %v, want one only for the job that exits 3", i, r.Err)
		}
	}
	if !strings.Contains(res[2].Err.Error(), "FAILED") || !strings.Contains(res[2].Err.Error(), "3:0") {
		t.Errorf("got %v, want the task's state FAILED and exit code 3:0", res[2].Err)
	}
	if len(lines) == 0 || !strings.Contains(lines[0], "submitted job array") {
		t.Errorf("got progress %q, want a line saying the array was submitted", lines)
	}
}
