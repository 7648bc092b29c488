// Command clientgo-contender is the baseline of leasekit's benchmarks: a leader-election contender
// built on client-go's tools/leaderelection with a resourcelock.LeaseLock, exactly as a
// controller would use it (ReleaseOnCancel: true, default timings 15 s / 10 s / 2 s).
//
// It prints one JSON object per line on stdout, timestamps in microseconds of CLOCK_MONOTONIC:
//
//	{"ev":"ready","pid":1234,"identity":"..."}
//	{"ev":"leading","t":...,"name":"..."}             it became the leader
//	{"ev":"releasing","t":...}                        it was asked to give up (SIGTERM, "release")
//	{"ev":"released","t":...,"led":true}              the elector returned (lease released if led)
//	{"ev":"cs","t0":...,"t1":...,"token":7,"ok":true} one critical section (loop mode)
//	{"ev":"usage","cpuMicros":...,"totalAlloc":...}   answer to "usage"
//
// Without --serve it joins the election named by the flags at once, holds leadership until
// SIGTERM or SIGINT, then releases and exits. With --serve it reads JSON commands on stdin:
//
//	{"cmd":"join","name":"x","leaseDurationMs":15000,"renewDeadlineMs":10000,"retryPeriodMs":2000,
//	 "mode":"hold"|"loop","fenceDir":"/tmp/f","count":1}
//	{"cmd":"release"}   leave the election (releasing the lease if held)
//	{"cmd":"usage"}     print CPU time, allocations, RSS and request counters
//	{"cmd":"quit"}      release and exit (as does SIGTERM, or the end of stdin)
//
// "hold" leads until released; "loop" repeats acquire -> critical section -> release until
// released; "count" > 1 runs that many electors on leases name-0 .. name-(count-1) (hold only).
//
// client-go exposes no fencing token: in loop mode the critical section reads the Lease once
// (one extra GET) to learn spec.leaseTransitions, the same counter leasekit hands out as its token.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/ioutil"
	"math/rand"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coordinationclient "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"
)

var (
	outMu sync.Mutex
	out   = bufio.NewWriter(os.Stdout)
)

// micros is CLOCK_MONOTONIC in microseconds: the clock Node's process.hrtime reads too, so the
// timestamps of all contenders (Go and Node) and of the orchestrator are directly comparable and
// immune to wall-clock adjustments.
func micros() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		panic(err)
	}
	return ts.Sec*1_000_000 + ts.Nsec/1000
}

// emit writes one event line and flushes it at once: the orchestrator times events as they come.
func emit(fields map[string]interface{}) {
	line, _ := json.Marshal(fields)
	outMu.Lock()
	defer outMu.Unlock()
	out.Write(line)
	out.WriteByte('\n')
	out.Flush()
}

type joinCmd struct {
	Cmd             string `json:"cmd"`
	Name            string `json:"name"`
	Namespace       string `json:"namespace"`
	LeaseDurationMs int64  `json:"leaseDurationMs"`
	RenewDeadlineMs int64  `json:"renewDeadlineMs"`
	RetryPeriodMs   int64  `json:"retryPeriodMs"`
	Mode            string `json:"mode"`
	FenceDir        string `json:"fenceDir"`
	Count           int    `json:"count"`
}

// counters of API calls made through the Lease client, and per-lease renewal lateness samples.
type counters struct {
	gets, creates, updates, failures int64
	mu                               sync.Mutex
	lateness                         []int64 // microseconds: renewal GET sent - (previous success + retryPeriod)
}

var calls counters

// countingLeases wraps the typed Lease client to count the requests the elector makes and to
// time renewals (actual start versus the schedule: previous success + retryPeriod).
type countingLeases struct {
	coordinationclient.LeasesGetter
	retryPeriod time.Duration
	track       bool
	mu          sync.Mutex
	lastSuccess map[string]time.Time
}

type countingLease struct {
	coordinationclient.LeaseInterface
	owner *countingLeases
}

func (c *countingLeases) Leases(ns string) coordinationclient.LeaseInterface {
	return &countingLease{LeaseInterface: c.LeasesGetter.Leases(ns), owner: c}
}

func (l *countingLease) Get(ctx context.Context, name string, o metav1.GetOptions) (*coordinationv1.Lease, error) {
	atomic.AddInt64(&calls.gets, 1)
	if l.owner.track {
		now := time.Now()
		l.owner.mu.Lock()
		if last, ok := l.owner.lastSuccess[name]; ok {
			late := now.Sub(last.Add(l.owner.retryPeriod))
			calls.mu.Lock()
			calls.lateness = append(calls.lateness, late.Microseconds())
			calls.mu.Unlock()
		}
		l.owner.mu.Unlock()
	}
	lease, err := l.LeaseInterface.Get(ctx, name, o)
	if err != nil {
		atomic.AddInt64(&calls.failures, 1)
	}
	return lease, err
}

func (l *countingLease) Create(ctx context.Context, lease *coordinationv1.Lease, o metav1.CreateOptions) (*coordinationv1.Lease, error) {
	atomic.AddInt64(&calls.creates, 1)
	res, err := l.LeaseInterface.Create(ctx, lease, o)
	l.done(lease.Name, err)
	return res, err
}

func (l *countingLease) Update(ctx context.Context, lease *coordinationv1.Lease, o metav1.UpdateOptions) (*coordinationv1.Lease, error) {
	atomic.AddInt64(&calls.updates, 1)
	res, err := l.LeaseInterface.Update(ctx, lease, o)
	l.done(lease.Name, err)
	return res, err
}

func (l *countingLease) done(name string, err error) {
	if err != nil {
		atomic.AddInt64(&calls.failures, 1)
		return
	}
	if l.owner.track {
		// The elector waits retryPeriod after tryAcquireOrRenew returns before the next one.
		l.owner.mu.Lock()
		l.owner.lastSuccess[name] = time.Now()
		l.owner.mu.Unlock()
	}
}

type contender struct {
	restConfig *rest.Config
	identity   string
	namespace  string

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

func timingsOf(c joinCmd) (time.Duration, time.Duration, time.Duration) {
	d := func(ms int64, def time.Duration) time.Duration {
		if ms <= 0 {
			return def
		}
		return time.Duration(ms) * time.Millisecond
	}
	return d(c.LeaseDurationMs, 15*time.Second), d(c.RenewDeadlineMs, 10*time.Second), d(c.RetryPeriodMs, 2*time.Second)
}

// client builds the Lease client as resourcelock.NewFromKubeconfig does: its own copy of the
// config, a request timeout of renewDeadline/2 (at least 1 s), the "leader-election" user agent.
func (c *contender) client(renewDeadline, retryPeriod time.Duration, track bool, qps float32) (*countingLeases, error) {
	config := *c.restConfig
	timeout := ((renewDeadline / time.Millisecond) / 2) * time.Millisecond
	if timeout < time.Second {
		timeout = time.Second
	}
	config.Timeout = timeout
	if qps > 0 {
		config.QPS = qps
		config.Burst = int(qps) * 2
	}
	cs, err := coordinationclient.NewForConfig(rest.AddUserAgent(&config, "leader-election"))
	if err != nil {
		return nil, err
	}
	return &countingLeases{
		LeasesGetter: cs, retryPeriod: retryPeriod, track: track,
		lastSuccess: map[string]time.Time{},
	}, nil
}

func (c *contender) join(cmd joinCmd) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cancel != nil {
		return errors.New("already joined; release first")
	}
	if cmd.Name == "" {
		return errors.New("join: name is required")
	}
	namespace := cmd.Namespace
	if namespace == "" {
		namespace = c.namespace
	}
	leaseDuration, renewDeadline, retryPeriod := timingsOf(cmd)
	count := cmd.Count
	if count < 1 {
		count = 1
	}
	var qps float32
	if count > 1 {
		// Many electors share one client: lift client-go's default 5 QPS limit so that the
		// limiter, not the elector, is not what is measured.
		qps = float32(count)
	}
	leases, err := c.client(renewDeadline, retryPeriod, count > 1, qps)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	c.cancel, c.done = cancel, done
	config := func(name string, onStarted func(context.Context), onStopped func()) leaderelection.LeaderElectionConfig {
		return leaderelection.LeaderElectionConfig{
			Lock: &resourcelock.LeaseLock{
				LeaseMeta:  metav1.ObjectMeta{Name: name, Namespace: namespace},
				Client:     leases,
				LockConfig: resourcelock.ResourceLockConfig{Identity: c.identity},
			},
			LeaseDuration:   leaseDuration,
			RenewDeadline:   renewDeadline,
			RetryPeriod:     retryPeriod,
			ReleaseOnCancel: true,
			Name:            name,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: onStarted,
				OnStoppedLeading: onStopped,
			},
		}
	}
	go func() {
		defer close(done)
		switch {
		case count > 1:
			var wg sync.WaitGroup
			var leading int64
			for i := 0; i < count; i++ {
				wg.Add(1)
				name := fmt.Sprintf("%s-%d", cmd.Name, i)
				go func() {
					defer wg.Done()
					leaderelection.RunOrDie(ctx, config(name, func(context.Context) {
						if atomic.AddInt64(&leading, 1) == int64(count) {
							emit(map[string]interface{}{"ev": "leading", "t": micros(), "name": cmd.Name, "count": count})
						}
					}, func() {}))
				}()
			}
			wg.Wait()
			emit(map[string]interface{}{"ev": "released", "t": micros(), "led": atomic.LoadInt64(&leading) > 0})
		case cmd.Mode == "loop":
			rounds := 0
			for ctx.Err() == nil {
				round, endRound := context.WithCancel(ctx)
				leaderelection.RunOrDie(round, config(cmd.Name, func(context.Context) {
					critical(leases, namespace, cmd.Name, c.identity, cmd.FenceDir)
					endRound() // give the lease up (ReleaseOnCancel) and contend again
				}, func() {}))
				endRound()
				rounds++
			}
			emit(map[string]interface{}{"ev": "released", "t": micros(), "rounds": rounds})
		default:
			var led int32
			leaderelection.RunOrDie(ctx, config(cmd.Name, func(context.Context) {
				atomic.StoreInt32(&led, 1)
				emit(map[string]interface{}{"ev": "leading", "t": micros(), "name": cmd.Name})
			}, func() {}))
			// RunOrDie returns after the release write (ReleaseOnCancel) or after losing the lease.
			emit(map[string]interface{}{"ev": "released", "t": micros(), "led": atomic.LoadInt32(&led) == 1})
		}
		c.mu.Lock()
		c.cancel, c.done = nil, nil
		c.mu.Unlock()
	}()
	return nil
}

// critical is one critical section guarded by the lease, checked two ways: an O_EXCL marker file
// that only one process can hold at a time, and the fencing token, which must exceed the last one
// written by any other contender (the same process may see its own token again: a lease it
// re-acquired without a successful release in between is the same tenure, and client-go keeps
// leaseTransitions when the holder identity does not change).
func critical(leases coordinationclient.LeasesGetter, namespace, name, identity, fenceDir string) {
	t0 := micros()
	ev := map[string]interface{}{"ev": "cs", "t0": t0}
	problems := []string{}
	// Not the leader context: a release asked for meanwhile must not cut the section short.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	lease, err := leases.Leases(namespace).Get(ctx, name, metav1.GetOptions{})
	token := int32(-1)
	if err != nil {
		problems = append(problems, "reading the token: "+err.Error())
	} else {
		if lease.Spec.LeaseTransitions != nil {
			token = *lease.Spec.LeaseTransitions
		}
		if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity != identity {
			problems = append(problems, "the lease does not name us inside the critical section")
		}
	}
	ev["token"] = token
	if fenceDir != "" {
		marker := filepath.Join(fenceDir, "occupied")
		f, err := os.OpenFile(marker, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		entered := err == nil
		if err != nil {
			problems = append(problems, "another contender is inside: "+err.Error())
		} else {
			f.Close()
		}
		tokenFile := filepath.Join(fenceDir, "token")
		if raw, err := ioutil.ReadFile(tokenFile); err == nil {
			var last, pid int
			if _, err := fmt.Sscanf(string(raw), "%d %d", &last, &pid); err == nil {
				if int32(last) > token || (int32(last) == token && pid != os.Getpid()) {
					problems = append(problems, fmt.Sprintf("token %d not above the last one written (%d, by pid %d)", token, last, pid))
				}
			}
		}
		tmp := fmt.Sprintf("%s.%d", tokenFile, os.Getpid())
		if err := ioutil.WriteFile(tmp, []byte(fmt.Sprintf("%d %d", token, os.Getpid())), 0o644); err == nil {
			os.Rename(tmp, tokenFile)
		}
		if entered {
			os.Remove(marker)
		}
	}
	ev["t1"] = micros()
	ev["ok"] = len(problems) == 0
	if len(problems) > 0 {
		ev["problems"] = problems
	}
	emit(ev)
}

// release leaves the election and waits until the elector returned (the lease is released).
func (c *contender) release() {
	c.mu.Lock()
	cancel, done := c.cancel, c.done
	c.mu.Unlock()
	if cancel == nil {
		emit(map[string]interface{}{"ev": "released", "t": micros(), "led": false})
		return
	}
	emit(map[string]interface{}{"ev": "releasing", "t": micros()})
	cancel()
	<-done
}

func percentile(sorted []int64, p float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted))+0.5) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(sorted) {
		i = len(sorted) - 1
	}
	return sorted[i]
}

func usage() map[string]interface{} {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rss := int64(-1)
	if raw, err := ioutil.ReadFile("/proc/self/statm"); err == nil {
		fields := strings.Fields(string(raw))
		if len(fields) > 1 {
			pages, _ := strconv.ParseInt(fields[1], 10, 64)
			rss = pages * int64(os.Getpagesize())
		}
	}
	calls.mu.Lock()
	late := append([]int64(nil), calls.lateness...)
	calls.lateness = calls.lateness[:0]
	calls.mu.Unlock()
	sort.Slice(late, func(i, j int) bool { return late[i] < late[j] })
	return map[string]interface{}{
		"ev":          "usage",
		"t":           micros(),
		"cpuMicros":   ru.Utime.Nano()/1000 + ru.Stime.Nano()/1000,
		"totalAlloc":  ms.TotalAlloc,
		"mallocs":     ms.Mallocs,
		"rss":         rss,
		"gets":        atomic.LoadInt64(&calls.gets),
		"creates":     atomic.LoadInt64(&calls.creates),
		"updates":     atomic.LoadInt64(&calls.updates),
		"failures":    atomic.LoadInt64(&calls.failures),
		"latenessN":   len(late),
		"latenessP50": percentile(late, 0.5),
		"latenessP99": percentile(late, 0.99),
		"latenessMax": percentile(late, 1),
	}
}

func main() {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "path of the kubeconfig")
	namespace := flag.String("namespace", "", "namespace of the Lease (default: the kubeconfig context's, else \"default\")")
	name := flag.String("name", "", "name of the Lease (required without --serve)")
	identity := flag.String("identity", "", "holder identity (default: hostname_pid_random)")
	leaseDuration := flag.Duration("lease-duration", 15*time.Second, "LeaseDuration")
	renewDeadline := flag.Duration("renew-deadline", 10*time.Second, "RenewDeadline")
	retryPeriod := flag.Duration("retry-period", 2*time.Second, "RetryPeriod")
	serve := flag.Bool("serve", false, "read JSON commands on stdin instead of joining at once")
	flag.Parse()
	klog.InitFlags(nil) // klog's own flags stay at their defaults; it logs to stderr
	rand.Seed(time.Now().UnixNano())

	loading := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: *kubeconfig}, &clientcmd.ConfigOverrides{})
	restConfig, err := loading.ClientConfig()
	if err != nil {
		fmt.Fprintln(os.Stderr, "clientgo-contender: kubeconfig:", err)
		os.Exit(2)
	}
	ns := *namespace
	if ns == "" {
		if n, _, err := loading.Namespace(); err == nil && n != "" {
			ns = n
		} else {
			ns = "default"
		}
	}
	id := *identity
	if id == "" {
		host, _ := os.Hostname()
		id = fmt.Sprintf("%s_%d_%06x", host, os.Getpid(), rand.Intn(1<<24))
	}
	c := &contender{restConfig: restConfig, identity: id, namespace: ns}

	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	quit := make(chan struct{})
	var quitOnce sync.Once
	stop := func() {
		quitOnce.Do(func() {
			c.release()
			close(quit)
		})
	}
	go func() {
		<-signals
		stop()
	}()

	emit(map[string]interface{}{"ev": "ready", "t": micros(), "pid": os.Getpid(), "identity": id})
	if !*serve {
		if *name == "" {
			fmt.Fprintln(os.Stderr, "clientgo-contender: --name is required without --serve")
			os.Exit(2)
		}
		err := c.join(joinCmd{Name: *name, Namespace: ns, Mode: "hold",
			LeaseDurationMs: leaseDuration.Milliseconds(), RenewDeadlineMs: renewDeadline.Milliseconds(),
			RetryPeriodMs: retryPeriod.Milliseconds()})
		if err != nil {
			fmt.Fprintln(os.Stderr, "clientgo-contender:", err)
			os.Exit(2)
		}
		<-quit
		return
	}
	go func() {
		scanner := bufio.NewScanner(os.Stdin)
		for scanner.Scan() {
			var cmd joinCmd
			if err := json.Unmarshal(scanner.Bytes(), &cmd); err != nil {
				emit(map[string]interface{}{"ev": "error", "msg": "bad command: " + err.Error()})
				continue
			}
			switch cmd.Cmd {
			case "join":
				if err := c.join(cmd); err != nil {
					emit(map[string]interface{}{"ev": "error", "msg": err.Error()})
				}
			case "release":
				go c.release()
			case "usage":
				emit(usage())
			case "quit":
				go stop()
			default:
				emit(map[string]interface{}{"ev": "error", "msg": "unknown command " + cmd.Cmd})
			}
		}
		stop() // stdin closed: the orchestrator is gone
	}()
	<-quit
}
