// Package slurmtest starts a real single-node Slurm cluster for tests: a
// generated munge key, munged, slurmctld and slurmd from a slurm.conf written
// into a temp dir, all stopped by PID when the test ends. It needs root and
// Debian's slurm-wlm and munge packages (.ci/run installs them); where either
// is missing the test is skipped with a message saying so.
package slurmtest

import (
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Cluster is a running test cluster.
type Cluster struct {
	// Conf is the slurm.conf path; Env sets SLURM_CONF for client commands
	// (append it to a command's environment, or call Setenv).
	Conf string
	Env  []string
	Dir  string
}

// Start starts the cluster or skips the test, loudly, when it cannot.
func Start(t *testing.T) *Cluster {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("SKIP (Slurm): the test cluster's daemons must run as root; run the tests as root (CI does)")
	}
	var missing []string
	for _, bin := range []string{"munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "sinfo"} {
		if _, err := exec.LookPath(bin); err != nil {
			missing = append(missing, bin)
		}
	}
	if len(missing) > 0 {
		t.Skipf("SKIP (Slurm): %s not installed: apt-get install -y slurm-wlm munge (.ci/run does this)", strings.Join(missing, ", "))
	}
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	host = strings.SplitN(host, ".", 2)[0]
	dir := t.TempDir()
	c := &Cluster{Dir: dir, Conf: filepath.Join(dir, "slurm.conf")}
	for _, d := range []string{"state", "spool"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	key := make([]byte, 1024)
	rand.Read(key)
	if err := os.WriteFile(filepath.Join(dir, "munge.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "munge.sock")
	start(t, dir, "munged", "munged", "-F", "-f", "--socket="+sock, "--key-file="+filepath.Join(dir, "munge.key"),
		"--log-file="+filepath.Join(dir, "munged.log"), "--pid-file="+filepath.Join(dir, "munged.pid"),
		"--seed-file="+filepath.Join(dir, "munged.seed"))
	waitFor(t, func() bool { _, err := os.Stat(sock); return err == nil }, 10*time.Second, "munged socket", dir, "munged.out")

	conf := fmt.Sprintf(`ClusterName=p3otest
SlurmctldHost=%[1]s(127.0.0.1)
SlurmctldPort=%[3]d
SlurmdPort=%[4]d
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=%[2]s/munge.sock
StateSaveLocation=%[2]s/state
SlurmdSpoolDir=%[2]s/spool
SlurmctldPidFile=%[2]s/slurmctld.pid
SlurmdPidFile=%[2]s/slurmd.pid
SlurmctldLogFile=%[2]s/slurmctld.log
SlurmdLogFile=%[2]s/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
NodeName=%[1]s NodeAddr=127.0.0.1 CPUs=%[5]d State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
`, host, dir, freePort(t), freePort(t), runtime.NumCPU())
	if err := os.WriteFile(c.Conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	c.Env = []string{"SLURM_CONF=" + c.Conf}
	start(t, dir, "slurmctld", "slurmctld", "-D", "-i", "-f", c.Conf)
	start(t, dir, "slurmd", "slurmd", "-D", "-f", c.Conf)
	waitFor(t, func() bool {
		cmd := exec.Command("sinfo", "-h", "-o", "%T")
		cmd.Env = append(os.Environ(), c.Env...)
		out, err := cmd.Output()
		return err == nil && strings.Contains(string(out), "idle")
	}, 30*time.Second, "an idle node in sinfo", dir, "slurmctld.log")
	return c
}

// Setenv points the Slurm client commands of this test process at the
// cluster.
func (c *Cluster) Setenv(t *testing.T) { t.Setenv("SLURM_CONF", c.Conf) }

// start runs a daemon in the foreground of its own process group and stops
// it, by PID, when the test ends.
func start(t *testing.T, dir, name string, argv ...string) {
	t.Helper()
	out, err := os.Create(filepath.Join(dir, name+".out"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	pid := cmd.Process.Pid
	done := make(chan struct{})
	go func() { cmd.Wait(); out.Close(); close(done) }()
	t.Cleanup(func() {
		syscall.Kill(pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-pid, syscall.SIGKILL)
			<-done
		}
	})
}

func waitFor(t *testing.T, ok func() bool, limit time.Duration, what, dir, logName string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, logName))
			t.Fatalf("Slurm test cluster: no %s after %s; %s:\n%s", what, limit, logName, tail(string(b), 2000))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
