"""The taskwatch benchmark: taskwatch against Celery's consumer, a polling loop
and the redis-cli pub/sub floor, on one private redis-server. Run it through
Benchmarks/run, which prepares the venv, the floor counter and the build.

Every scenario gives each peer the same task ids and the same message stream
(real Celery payloads, SETEX + PUBLISH in one MULTI/EXEC per message). In each
repetition the peers run one after another, in a rotated order; the stream
starts only once the peer is fully subscribed, so the time to subscribe and
the time to consume are measured separately. See README.md for the method.
"""
import argparse
import gc
import json
import os
import random
import re
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field, asdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
READY_STATES = ('SUCCESS', 'FAILURE', 'REVOKED')
RESULT_TTL = 86400          # Celery's default result_expires (1 day)
KEY_PREFIX = 'celery-task-meta-'


def log(*parts):
    print('bench:', *parts, file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


# --------------------------------------------------------------------------
# The private redis-server

class RedisServer:
    """A throwaway redis-server on a free loopback port: no persistence, no
    output-buffer limit for pub/sub clients, stopped by its recorded PID."""

    def __init__(self, workdir, pidfile=None, tls=None):
        self.dir = Path(workdir)
        self.pidfile = pidfile
        self.proc = None
        self.port = None
        self.tls = tls              # TLSFiles: also listen with TLS on tls_port
        self.tls_port = None

    def start(self):
        for attempt in range(8):
            port = free_port()
            log_path = self.dir / 'redis.log'
            argv = ['redis-server', '--port', str(port), '--bind', '127.0.0.1',
                    '--protected-mode', 'yes', '--save', '', '--appendonly', 'no',
                    '--dir', str(self.dir), '--logfile', str(log_path),
                    '--daemonize', 'no', '--maxclients', '1000',
                    '--client-output-buffer-limit', 'pubsub 0 0 0',
                    '--client-output-buffer-limit', 'normal 0 0 0',
                    '--proto-max-bulk-len', '512mb']
            if self.tls:
                self.tls_port = free_port()
                argv += ['--tls-port', str(self.tls_port), '--tls-cert-file', self.tls.cert,
                         '--tls-key-file', self.tls.key, '--tls-ca-cert-file', self.tls.ca,
                         '--tls-auth-clients', 'no']
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL,
                                         start_new_session=True)
            if self.pidfile:
                Path(self.pidfile).write_text(f'{self.proc.pid} {port} {self.dir}\n')
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break                      # port taken in the meantime: retry
                try:
                    with socket.create_connection(('127.0.0.1', port), 0.2) as s:
                        s.sendall(b'PING\r\n')
                        if s.recv(16).startswith(b'+PONG'):
                            self.port = port
                            return self
                except OSError:
                    time.sleep(0.02)
            self.stop()
        raise BenchError('could not start redis-server (see its log in %s)' % self.dir)

    def cpu_seconds(self):
        """user+sys CPU of the server so far, from /proc (clock ticks)."""
        with open(f'/proc/{self.proc.pid}/stat') as f:
            fields = f.read().rsplit(')', 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.pidfile:
            for path in (self.pidfile, self.pidfile + '.peer'):
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass


@dataclass
class TLSFiles:
    """A CA and a server certificate for 127.0.0.1, made with the openssl CLI
    (EC P-256, like most managed Redis services' certificates today)."""
    ca: str
    cert: str
    key: str

    @staticmethod
    def make(workdir):
        d = Path(workdir)
        key_opts = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
        (d / 'server.ext').write_text('subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n')
        for argv in (
                ['req', '-x509', *key_opts, '-keyout', d / 'ca.key', '-out', d / 'ca.crt',
                 '-subj', '/CN=taskwatch bench CA', '-days', '1'],
                ['req', *key_opts, '-keyout', d / 'server.key', '-out', d / 'server.csr', '-subj', '/CN=127.0.0.1'],
                ['x509', '-req', '-in', d / 'server.csr', '-CA', d / 'ca.crt', '-CAkey', d / 'ca.key',
                 '-CAcreateserial', '-out', d / 'server.crt', '-days', '1', '-extfile', d / 'server.ext']):
            subprocess.run(['openssl', *map(str, argv)], check=True, capture_output=True, timeout=30)
        return TLSFiles(str(d / 'ca.crt'), str(d / 'server.crt'), str(d / 'server.key'))


def free_port():
    while True:
        with socket.socket() as s:
            s.bind(('127.0.0.1', 0))
            port = s.getsockname()[1]
        if port != 6379:
            return port


class Monitor:
    """A small blocking RESP client for the harness's own queries."""

    def __init__(self, port):
        import redis
        self.r = redis.Redis(host='127.0.0.1', port=port, socket_timeout=30)

    def flush(self):
        self.r.flushdb(asynchronous=False)

    def pubsub_subscriptions(self):
        """Sum of `sub=` over pub/sub clients (cheap even at 100k channels)."""
        text = self.r.execute_command('CLIENT LIST TYPE pubsub')
        if isinstance(text, bytes):
            text = text.decode()
        return sum(int(m) for m in re.findall(r'\bsub=(\d+)', text)), text.count('\n')

    def wait_no_pubsub(self, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            subs, clients = self.pubsub_subscriptions()
            if clients == 0:
                return
            if time.monotonic() > deadline:
                raise BenchError(f'{clients} pub/sub clients left over from the previous run')
            time.sleep(0.01)


# --------------------------------------------------------------------------
# Task ids and the message stream

def make_ids(n, seed):
    rng = random.Random(seed)
    return [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(n)]


def update_states(updates):
    if updates == 1:
        return ['SUCCESS']
    if updates == 2:
        return ['STARTED', 'SUCCESS']
    return ['STARTED'] + ['PROGRESS'] * (updates - 2) + ['SUCCESS']


class CeleryPayloads:
    """Payload bytes made by Celery's own redis backend: the meta dict of
    Backend._get_result_meta (what store_result builds) plus task_id, encoded
    by Backend.encode with the default JSON serializer."""

    def __init__(self, url):
        from celery import Celery
        self.app = Celery('taskwatch-bench-publisher', backend=url)
        self.backend = self.app.backend

    def encode(self, task_id, state, result):
        meta = self.backend._get_result_meta(result=result, state=state,
                                             traceback=None, request=None)
        meta['task_id'] = task_id
        data = self.backend.encode(meta)
        return data.encode() if isinstance(data, str) else data

    def result_for(self, state, index, step, steps):
        if state == 'STARTED':
            return {'pid': 4242, 'hostname': 'celery@bench'}
        if state == 'PROGRESS':
            return {'current': step, 'total': steps}
        return index * 2

    def self_check(self, monitor):
        """store_result() a probe through Celery against the private server,
        read the key back and require our encoder to give the same JSON
        (date_done aside, which is the clock)."""
        probe = 'bench-self-check-' + str(uuid.uuid4())
        for state, result in (('PROGRESS', {'current': 1, 'total': 3}), ('SUCCESS', 6)):
            self.backend.store_result(probe, result, state)
            stored = monitor.r.get(KEY_PREFIX + probe)
            ours = self.encode(probe, state, result)
            a, b = json.loads(stored), json.loads(ours)
            a.pop('date_done'), b.pop('date_done')
            if a != b or list(json.loads(stored)) != list(json.loads(ours)):
                raise BenchError(f'payload self-check failed:\n celery: {stored!r}\n ours:   {ours!r}')
            monitor.r.delete(KEY_PREFIX + probe)
        return stored


@dataclass
class Stream:
    ids: list
    keys: list                 # channel / key per message, bytes
    payloads: list             # payload per message, bytes
    packed: list               # RESP bytes per message (MULTI SETEX PUBLISH EXEC)
    batches: list = field(default_factory=list)   # (first, last+1, bytes) for bulk mode

    @property
    def n_msgs(self):
        return len(self.payloads)


def build_stream(payloads, ids, updates, batch):
    """Round-major order: every task gets update 1, then every task update 2,
    ... so many tasks are in flight at once, as with a busy worker pool."""
    import redis.connection
    packer = redis.connection.Connection(host='127.0.0.1', port=1)
    states = update_states(updates)
    keys, data, packed = [], [], []
    for step, state in enumerate(states, 1):
        for index, task_id in enumerate(ids):
            key = (KEY_PREFIX + task_id).encode()
            payload = payloads.encode(task_id, state,
                                      payloads.result_for(state, index, step, len(states)))
            keys.append(key)
            data.append(payload)
            packed.append(b''.join(packer.pack_commands([
                ('MULTI',), ('SETEX', key, RESULT_TTL, payload),
                ('PUBLISH', key, payload), ('EXEC',)])))
    stream = Stream(ids, keys, data, packed)
    for first in range(0, len(packed), batch):
        last = min(first + batch, len(packed))
        stream.batches.append((first, last, b''.join(packed[first:last])))
    return stream


class Publisher:
    """Writes a stream's MULTI/SETEX/PUBLISH/EXEC transactions on one
    connection. The RESP bytes come from redis-py's command packer -- the
    very bytes Celery's `client.pipeline()` sends per message -- and are
    built before the clock starts; replies are verified in bulk (every EXEC
    answered `*2`, no error, no aborted transaction) so the publisher's Python
    does almost no work per message."""

    EXEC_OK = b'*2\r\n'

    TIMEOUT = 10.0

    def __init__(self, port):
        self.sock = socket.create_connection(('127.0.0.1', port), self.TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.carry = b''
        self.acked = 0

    def close(self):
        self.sock.close()

    def fileno(self):
        return self.sock.fileno()

    def read_acks(self, block=True):
        """Read what is there (or wait for something); return bytes read."""
        self.sock.settimeout(self.TIMEOUT if block else 0.0)
        try:
            data = self.sock.recv(1 << 20)
        except BlockingIOError:
            return 0
        except socket.timeout:
            raise BenchError('no reply from redis for %g s' % self.TIMEOUT)
        finally:
            self.sock.settimeout(self.TIMEOUT)
        if not data:
            raise BenchError('redis closed the publisher connection')
        buf = self.carry + data
        cut = buf.rfind(b'\n') + 1
        lines, self.carry = buf[:cut], buf[cut:]
        if lines.startswith(b'-') or b'\n-' in lines or b'*-1\r\n' in lines:
            raise BenchError('publisher got an error reply: %r' % lines[:300])
        self.acked += lines.count(self.EXEC_OK)
        return len(data)

    def wait_acked(self, n, deadline):
        while self.acked < n:
            if time.monotonic() > deadline:
                raise BenchError('publisher acks timed out')
            self.read_acks()

    def send(self, data):
        self.sock.sendall(data)


# --------------------------------------------------------------------------
# Peers

@dataclass
class Peer:
    name: str
    label: str
    subscribes: bool            # observe readiness through CLIENT LIST sub= (else a ready file)
    argv: object                # function(ctx) -> argv list
    stdin_ids: bool = False     # ids on stdin (taskwatch) rather than a file argument
    ready_line: object = None   # function(bytes line) -> bool, for S1's "line" time
    kind: str = 'exit'


def done_line(line):
    return line.startswith(b'done ')


def taskwatch_ready_line(line):
    try:
        obj = json.loads(line)
    except ValueError:
        return False
    return obj.get('type') == 'state' and obj.get('ready') is True


def make_peers(args, url, port, tls_url=None):
    py = sys.executable
    peers = {}
    peers['floor'] = Peer(
        'floor', 'redis-cli SUBSCRIBE (floor)', True,
        lambda c: [args.floor_counter, '--port', str(port), '--channels', c['channels_file'],
                   '--redis-cli', args.redis_cli] + (['--no-reap'] if c['latency'] else []),
        ready_line=done_line)
    if args.taskwatch:
        tw = [args.taskwatch, '--url', url] + list(args.taskwatch_arg)

        def tw_argv(c):
            argv = tw + ['--timeout', '%ds' % max(1, int(c['cap']) + 1)]
            if args.taskwatch_quiet:
                argv.append('--quiet')
            return argv + ['-']
        peers['taskwatch'] = Peer('taskwatch', 'taskwatch', True, tw_argv, stdin_ids=True,
                                  ready_line=taskwatch_ready_line)
        if tls_url:
            def tw_tls_argv(c):
                argv = tw_argv(c)
                return [argv[0], '--url', tls_url] + argv[3:]
            peers['taskwatch_tls'] = Peer('taskwatch_tls', 'taskwatch over TLS (rediss://)', True, tw_tls_argv,
                                          stdin_ids=True, ready_line=taskwatch_ready_line)
    peers['join_native'] = Peer(
        'join_native', 'Celery join_native', True,
        lambda c: [py, str(HERE / 'celery_peer.py'), 'join_native', url, c['ids_file'],
                   c['ready_file'], str(c['cap'])],
        ready_line=done_line)
    peers['poll'] = Peer(
        'poll', 'AsyncResult.state loop', False,
        lambda c: [py, str(HERE / 'celery_peer.py'), 'poll', url, c['ids_file'],
                   c['ready_file'], str(c['cap']), str(args.poll_interval)],
        ready_line=done_line)
    return peers


# --------------------------------------------------------------------------
# One run of one peer

@dataclass
class Run:
    scenario: str
    rep: int
    peer: str
    position: int
    tasks: int
    messages: int
    ok: bool = False
    error: str = ''
    timed_out: bool = False
    cap_s: float = 0.0
    subscribe_s: float = None      # spawn -> every channel subscribed (or ready file)
    wall_s: float = None           # first PUBLISH -> process exit
    done_s: float = None           # first PUBLISH -> the peer's own "done" stamp
    publish_s: float = None        # first PUBLISH -> last EXEC acknowledged
    publisher_cpu_s: float = None  # the harness's own CPU while publishing (bulk scenarios)
    wall_lower_s: float = None     # killed at the cap: first PUBLISH -> kill
    cpu_at_publish_s: float = None # the peer's CPU when the stream starts (start-up + subscribe)
    consume_cpu_s: float = None    # total CPU minus cpu_at_publish_s
    time_v_cpu_s: float = None     # /usr/bin/time -v's user+sys (10 ms resolution), for cross-checks
    latency_exit_ms: float = None  # S1: final PUBLISH -> exit
    latency_line_ms: float = None  # S1: final PUBLISH -> ready line read from its stdout
    exit_code: int = None
    user_s: float = None
    sys_s: float = None
    maxrss_kb: int = None
    redis_cpu_s: float = None
    lines: int = None


class Process:
    """A peer process in its own process group, watched through a pidfd."""

    def __init__(self, argv, stdin, stdout, stderr, timefile=None):
        if timefile:
            argv = ['/usr/bin/time', '-v', '-o', timefile] + list(argv)
        self.t_spawn = time.monotonic()
        self.proc = subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=stderr,
                                     start_new_session=True, close_fds=True)
        self.pidfd = os.pidfd_open(self.proc.pid)
        self.t_exit = None
        self.rusage = None

    def reap(self, timeout=10):
        """Wait for the exit with wait4, for the rusage of the whole tree
        (the process and the children it waited for) at microsecond
        resolution; /usr/bin/time -v rounds CPU to 10 ms."""
        if self.proc.returncode is None:
            r, _, _ = _select([self.pidfd], timeout)
            if not r:
                self.kill()
            else:
                _, status, self.rusage = os.wait4(self.proc.pid, 0)
                self.proc.returncode = os.waitstatus_to_exitcode(status)
        return self.proc.returncode

    def tree_cpu_s(self):
        """CPU used so far by the process and its descendants, every thread,
        from /proc/PID/task/TID/sched (se.sum_exec_runtime, in ms)."""
        parent = {}
        for entry in os.scandir('/proc'):
            if entry.name.isdigit():
                try:
                    with open(f'/proc/{entry.name}/stat') as f:
                        parent[int(entry.name)] = int(f.read().rsplit(')', 1)[1].split()[1])
                except OSError:
                    pass
        tree, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo.extend(c for c, pp in parent.items() if pp == pid)
        total = 0.0
        for pid in tree:
            try:
                for tid in os.listdir(f'/proc/{pid}/task'):
                    with open(f'/proc/{pid}/task/{tid}/sched') as f:
                        m = re.search(r'se\.sum_exec_runtime\s*:\s*([\d.]+)', f.read())
                        total += float(m.group(1)) / 1e3 if m else 0.0
            except OSError:
                pass
        return total

    def exited(self, now=None):
        if self.t_exit is None:
            r, _, _ = _select([self.pidfd], 0)
            if r:
                self.t_exit = now or time.monotonic()
        return self.t_exit is not None

    def kill(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass

    def close(self):
        self.kill()
        os.close(self.pidfd)


def _select(fds, timeout):
    import select
    return select.select(fds, [], [], timeout)


def parse_time_v(path):
    out = {}
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return out
    for key, name, conv in (('user_s', 'User time (seconds)', float),
                            ('sys_s', 'System time (seconds)', float),
                            ('maxrss_kb', 'Maximum resident set size (kbytes)', int),
                            ('exit', 'Exit status', int)):
        m = re.search(re.escape(name) + r':\s*(\S+)', text)
        if m:
            out[key] = conv(m.group(1))
    return out


def parse_floor_rusage(text):
    m = re.search(r'rusage (.*)', text)
    if not m:
        return {}
    return {k: float(v) for k, v in (kv.split('=') for kv in m.group(1).split())}


class Bench:
    def __init__(self, args, server, monitor, workdir):
        self.args = args
        self.server = server
        self.monitor = monitor
        self.dir = Path(workdir)
        self.url = f'redis://127.0.0.1:{server.port}/0'
        tls_url = None
        if server.tls_port:
            tls_url = (f'rediss://127.0.0.1:{server.tls_port}/0?ssl_cert_reqs=required'
                       f'&ssl_ca_certs={server.tls.ca}')
        self.peers = make_peers(args, self.url, server.port, tls_url)
        self.runs = []
        self.publisher_rates = {}

    # -- helpers -----------------------------------------------------------
    def write_inputs(self, scenario, ids):
        ids_file = self.dir / f'{scenario}.ids'
        ids_file.write_text('\n'.join(ids) + '\n')
        ch_file = self.dir / f'{scenario}.channels'
        ch_file.write_text('\n'.join(KEY_PREFIX + i for i in ids) + '\n')
        return str(ids_file), str(ch_file)

    def prepare(self):
        self.monitor.flush()
        self.monitor.wait_no_pubsub()
        gc.collect()

    def spawn(self, peer, ctx, stdout, timefile):
        stdin = open(ctx['ids_file'], 'rb') if peer.stdin_ids else subprocess.DEVNULL
        stderr = open(ctx['stderr_file'], 'wb')
        try:
            proc = Process(peer.argv(ctx), stdin, stdout, stderr, timefile)
            if self.args.pidfile:
                # For run's trap, should this process die before it kills the peer.
                Path(self.args.pidfile + '.peer').write_text(f'{proc.proc.pid}\n')
            return proc
        finally:
            if stdin is not subprocess.DEVNULL:
                stdin.close()
            stderr.close()

    def wait_ready(self, peer, proc, ctx, n, deadline):
        """Return spawn -> subscribed seconds; poll cheaply (adaptive step)."""
        step = 0.0005
        while True:
            if peer.subscribes:
                subs, _ = self.monitor.pubsub_subscriptions()
                done = subs >= n
            else:
                done = os.path.exists(ctx['ready_file'])
            now = time.monotonic()
            if done:
                return now - proc.t_spawn
            if proc.exited():
                raise BenchError('exited before it was subscribed')
            if now > deadline:
                raise BenchError('not subscribed before the deadline')
            time.sleep(step)
            step = min(0.005, max(0.0005, (now - proc.t_spawn) / 50))

    def context(self, scenario, rep, peer, cap, latency=False):
        base = self.dir / f'{scenario}-{rep}-{peer.name}'
        return {'ids_file': self.ids_file, 'channels_file': self.channels_file,
                'ready_file': str(base) + '.ready', 'stderr_file': str(base) + '.stderr',
                'stdout_file': str(base) + '.stdout', 'time_file': str(base) + '.time',
                'cap': cap, 'latency': latency}

    def finish_run(self, run, peer, proc, ctx, n_tasks, stdout_bytes=None):
        run.exit_code = proc.reap()
        tv = parse_time_v(ctx['time_file'])
        if proc.rusage is not None:
            run.user_s, run.sys_s = proc.rusage.ru_utime, proc.rusage.ru_stime
            run.maxrss_kb = proc.rusage.ru_maxrss
        if tv:
            run.maxrss_kb = tv.get('maxrss_kb', run.maxrss_kb)
            run.exit_code = tv.get('exit', run.exit_code)
            run.time_v_cpu_s = tv.get('user_s', 0) + tv.get('sys_s', 0)
        if run.user_s is not None and run.cpu_at_publish_s is not None:
            run.consume_cpu_s = run.user_s + run.sys_s - run.cpu_at_publish_s
        err = Path(ctx['stderr_file']).read_text(errors='replace')
        if peer.name == 'floor':
            ru = parse_floor_rusage(err)
            if 'cli_maxrss_kb' in ru:   # two processes: add them (time -v reports the larger RSS only)
                run.maxrss_kb = int(ru['self_maxrss_kb'] + ru['cli_maxrss_kb'])
        if stdout_bytes is None:
            try:
                stdout_bytes = Path(ctx['stdout_file']).read_bytes()
            except FileNotFoundError:
                stdout_bytes = b''
        problems = self.validate(peer, stdout_bytes, n_tasks, run)
        if run.exit_code != 0:
            problems.insert(0, f'exit status {run.exit_code}')
        if run.timed_out:
            problems.insert(0, f'killed after the {run.cap_s:g} s cap')
        if problems:
            tail = ' | '.join(l for l in err.strip().splitlines()[-3:])
            run.error = '; '.join(problems) + (f' (stderr: {tail[:300]})' if tail else '')
        run.ok = not problems
        for key in ('stdout_file', 'time_file', 'ready_file'):
            try:
                os.unlink(ctx[key])
            except FileNotFoundError:
                pass
        if run.ok:
            os.unlink(ctx['stderr_file'])

    def validate(self, peer, out, n_tasks, run):
        problems = []
        if peer.name in ('taskwatch', 'taskwatch_tls'):
            if self.args.taskwatch_quiet:
                return problems
            last = {}
            lines = out.splitlines()
            run.lines = len(lines)
            for i, line in enumerate(lines):
                try:
                    obj = json.loads(line)
                except ValueError:
                    problems.append(f'stdout line {i + 1} is not JSON: {line[:80]!r}')
                    break
                if obj.get('type') == 'state':
                    last[obj.get('task_id')] = obj.get('state')
            ok = sum(1 for s in last.values() if s == 'SUCCESS')
            if ok != n_tasks:
                problems.append(f'{ok} of {n_tasks} tasks ended SUCCESS on stdout')
        else:
            m = re.search(rb'^done (\d+) (\d+)$', out, re.M)
            if not m or int(m.group(1)) != n_tasks:
                problems.append('no "done %d" line' % n_tasks)
            else:
                run.done_s = int(m.group(2)) / 1e9   # absolute; made relative by caller
        return problems

    # -- throughput scenarios ------------------------------------------------
    def run_bulk(self, scenario, rep, position, peer, stream, cap):
        run = Run(scenario, rep, peer.name, position, len(stream.ids), stream.n_msgs, cap_s=cap)
        ctx = self.context(scenario, rep, peer, cap)
        self.prepare()
        stdout = open(ctx['stdout_file'], 'wb')
        proc = self.spawn(peer, ctx, stdout, ctx['time_file'])
        stdout.close()
        pub = Publisher(self.server.port)
        try:
            deadline = proc.t_spawn + cap
            run.subscribe_s = self.wait_ready(peer, proc, ctx, len(stream.ids), deadline)
            run.cpu_at_publish_s = proc.tree_cpu_s()
            cpu0 = self.server.cpu_seconds()
            self_cpu0 = sum(os.times()[:2])
            sent, window = 0, self.args.window
            t0 = time.monotonic()
            for first, last, data in stream.batches:
                pub.send(data)
                sent = last
                while pub.acked < sent - window:
                    pub.read_acks()
            # Everything is sent: now wait on the exit and the acks together,
            # so neither time is read late.
            sel = selectors.DefaultSelector()
            sel.register(proc.pidfd, selectors.EVENT_READ, 'exit')
            sel.register(pub.sock, selectors.EVENT_READ, 'ack')
            t_acked = time.monotonic() if pub.acked >= sent else None
            deadline = max(deadline, t0 + 5)
            while proc.t_exit is None or t_acked is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    run.timed_out = True
                    break
                for key, _ in sel.select(left):
                    now = time.monotonic()
                    if key.data == 'exit':
                        proc.t_exit = now
                        sel.unregister(proc.pidfd)
                    else:
                        pub.read_acks(block=False)
                        if pub.acked >= sent and t_acked is None:
                            t_acked = time.monotonic()
                            sel.unregister(pub.sock)
            sel.close()
            run.redis_cpu_s = self.server.cpu_seconds() - cpu0
            run.publisher_cpu_s = sum(os.times()[:2]) - self_cpu0
            if proc.t_exit is not None:
                run.wall_s = proc.t_exit - t0
            else:
                run.wall_lower_s = time.monotonic() - t0
            if t_acked is not None:
                run.publish_s = t_acked - t0
            if run.timed_out:
                proc.kill()
            self.finish_run(run, peer, proc, ctx, len(stream.ids))
            if run.done_s is not None:
                run.done_s -= t0
        except BenchError as e:
            proc.kill()
            run.error = str(e)
            run.ok = False
        finally:
            pub.close()
            proc.close()
        self.report_run(run)
        return run

    # -- S1: latency -----------------------------------------------------------
    def run_latency(self, scenario, rep, position, peer, stream, cap, interval):
        run = Run(scenario, rep, peer.name, position, len(stream.ids), stream.n_msgs, cap_s=cap)
        ctx = self.context(scenario, rep, peer, cap, latency=True)
        self.prepare()
        proc = self.spawn(peer, ctx, subprocess.PIPE, None)
        os.set_blocking(proc.proc.stdout.fileno(), False)
        out = bytearray()
        t_line = None
        pub = Publisher(self.server.port)

        def drain(now):
            nonlocal t_line
            while True:
                try:
                    chunk = os.read(proc.proc.stdout.fileno(), 1 << 16)
                except BlockingIOError:
                    return True
                if not chunk:
                    return False
                start = len(out)
                out.extend(chunk)
                if t_line is None and t_pub is not None:
                    for line in bytes(out[out.rfind(b'\n', 0, start) + 1:]).splitlines():
                        if peer.ready_line(line):
                            t_line = now
                            break
        t_pub = None
        try:
            deadline = proc.t_spawn + cap
            run.subscribe_s = self.wait_ready(peer, proc, ctx, len(stream.ids), deadline)
            for i, data in enumerate(stream.packed[:-1]):
                pub.send(data)
                pub.wait_acked(i + 1, deadline)
                time.sleep(interval)
                drain(time.monotonic())
            sel = selectors.DefaultSelector()
            sel.register(proc.pidfd, selectors.EVENT_READ, 'exit')
            sel.register(proc.proc.stdout, selectors.EVENT_READ, 'out')
            t_pub = time.monotonic()
            pub.send(stream.packed[-1])
            open_out = True
            while proc.t_exit is None or open_out:
                left = deadline - time.monotonic()
                if left <= 0:
                    run.timed_out = True
                    break
                for key, _ in sel.select(left):
                    now = time.monotonic()
                    if key.data == 'exit':
                        proc.t_exit = now
                        sel.unregister(proc.pidfd)
                    elif not drain(now):
                        open_out = False
                        sel.unregister(proc.proc.stdout)
            sel.close()
            pub.wait_acked(stream.n_msgs, time.monotonic() + 5)
            if run.timed_out:
                proc.kill()
            if proc.t_exit is not None:
                run.latency_exit_ms = (proc.t_exit - t_pub) * 1e3
                run.wall_s = proc.t_exit - t_pub
            if t_line is not None:
                run.latency_line_ms = (t_line - t_pub) * 1e3
            proc.proc.stdout.close()
            self.finish_run(run, peer, proc, ctx, len(stream.ids), bytes(out))
            run.done_s = None
        except BenchError as e:
            proc.kill()
            run.error = str(e)
            run.ok = False
        finally:
            pub.close()
            proc.close()
        if self.args.verbose or not run.ok:
            self.report_run(run)
        return run

    def report_run(self, run):
        if run.latency_exit_ms is not None or run.scenario == 'S1':
            detail = (f'line {fmt(run.latency_line_ms, 2)} ms exit {fmt(run.latency_exit_ms, 2)} ms '
                      f'subscribed {fmt(ms(run.subscribe_s), 1)} ms')
        else:
            detail = (f'wall {fmt(run.wall_s, 3)} s subscribe {fmt(run.subscribe_s, 3)} s '
                      f'publish {fmt(run.publish_s, 3)} s cpu {fmt(cpu(run), 2)} s '
                      f'rss {fmt(mb(run.maxrss_kb), 1)} MB')
        status = 'ok' if run.ok else 'FAILED: ' + run.error
        log(f'{run.scenario} rep {run.rep} {run.peer:<11} {detail}  {status}')

    # -- publisher alone -----------------------------------------------------
    def publisher_only(self, scenario, stream, reps):
        rates = []
        for _ in range(reps):
            self.prepare()
            pub = Publisher(self.server.port)
            t0 = time.monotonic()
            sent = 0
            for first, last, data in stream.batches:
                pub.send(data)
                sent = last
                while pub.acked < sent - self.args.window:
                    pub.read_acks()
            pub.wait_acked(sent, time.monotonic() + 120)
            rates.append(stream.n_msgs / (time.monotonic() - t0))
            pub.close()
        self.publisher_rates[scenario] = rates
        log(f'{scenario} publisher alone: {statistics.median(rates):,.0f} msg/s')
        return rates

    def celery_pipeline_rate(self, stream, count):
        """For context: one redis-py pipeline() (MULTI/EXEC) round trip per
        message, the way a Celery worker stores results."""
        import redis
        self.prepare()
        r = redis.Redis(host='127.0.0.1', port=self.server.port)
        count = min(count, stream.n_msgs)
        t0 = time.monotonic()
        import warnings
        warnings.simplefilter('ignore', DeprecationWarning)   # redis-py 8 on setex, which Celery uses
        for i in range(count):
            with r.pipeline() as pipe:
                pipe.setex(stream.keys[i], RESULT_TTL, stream.payloads[i])
                pipe.publish(stream.keys[i], stream.payloads[i])
                pipe.execute()
        rate = count / (time.monotonic() - t0)
        r.close()
        return rate


# --------------------------------------------------------------------------
# Statistics and the report

def ms(s):
    return None if s is None else s * 1e3


def mb(kb):
    return None if kb is None else kb / 1024


def cpu(run):
    if run.user_s is None:
        return None
    return run.user_s + run.sys_s


def fmt(x, digits=2):
    if x is None:
        return '—'
    if isinstance(x, str):
        return x
    if abs(x) >= 1000 and digits <= 1:
        return f'{x:,.0f}'
    return f'{x:.{digits}f}'


def percentile(values, p):
    """Nearest-rank percentile."""
    v = sorted(values)
    if not v:
        return None
    k = max(0, min(len(v) - 1, int(-(-p * len(v) // 100)) - 1))
    return v[k]


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def spread(values, digits):
    values = [v for v in values if v is not None]
    if not values:
        return '—'
    m = statistics.median(values)
    if len(values) == 1:
        return fmt(m, digits)
    return f'{fmt(m, digits)} [{fmt(min(values), digits)}–{fmt(max(values), digits)}]'


SCENARIOS = {
    'S1': dict(tasks=1, updates=4, title='latency: 1 task, 4 updates (STARTED, PROGRESS ×2, SUCCESS)'),
    'S2': dict(tasks=1_000, updates=5, title='1,000 tasks × 5 updates'),
    'S3': dict(tasks=10_000, updates=3, title='10,000 tasks × 3 updates'),
    'S3T': dict(tasks=10_000, updates=3, seed=3, tls=True,
                title='S3 over TLS: taskwatch on rediss:// against taskwatch on redis://'),
    'S4': dict(tasks=100_000, updates=1, title='100,000 tasks × 1 update'),
    # scale.py's: start-up beside redis-cli, and 1,000,000 ids (memory, subscribe → snapshot).
    'ST': dict(tasks=1, updates=1, title='start-up: spawn → first SUBSCRIBE'),
    'S5': dict(tasks=1_000_000, updates=1, title='1,000,000 ids × 1 update'),
}


def peer_order(names, rep):
    k = rep % len(names)
    return names[k:] + names[:k]


def summarize_bulk(scenario, runs, peers, cap_for):
    """Markdown for one throughput scenario."""
    spec = SCENARIOS[scenario]
    n_msgs = runs[0].messages if runs else 0
    reps = max((r.rep for r in runs), default=-1) + 1
    lines = [f'### {scenario} — {spec["title"]} ({n_msgs:,} messages, {reps} rep{"s" * (reps != 1)})', '',
             '| peer | wall s, median [min–max] | × taskwatch | msg/s | subscribe s | publish s | CPU s (user+sys) | consume CPU µs/msg | peak RSS MB | runs ok |',
             '|---|---|---|---|---|---|---|---|---|---|']
    by_peer = {}
    for r in runs:
        by_peer.setdefault(r.peer, []).append(r)
    tw_wall = med([r.wall_s for r in by_peer.get('taskwatch', []) if r.ok])
    for name in peers:
        rs = by_peer.get(name)
        if not rs:
            continue
        good = [r for r in rs if r.ok]
        walls = [r.wall_s for r in good]
        capped = [r for r in rs if r.timed_out]
        wall = med(walls)
        if capped and not good:
            lower = min(r.wall_lower_s or 0 for r in capped)
            wall_txt = f'> {lower:.0f} (killed at the {capped[0].cap_s:g} s cap)'
            ratio = f'> {lower / tw_wall:.0f}' if tw_wall else '—'
        else:
            wall_txt = spread(walls, 3) + (f', {len(capped)} capped' if capped else '')
            ratio = fmt(wall / tw_wall, 2) if (wall and tw_wall) else '—'
        rate = fmt(n_msgs / wall, 1) if wall else '—'
        cpus = [cpu(r) for r in good]
        per_msg = spread([r.consume_cpu_s / n_msgs * 1e6 for r in good if r.consume_cpu_s is not None], 1)
        rss = [mb(r.maxrss_kb) for r in good]
        subs = [r.subscribe_s for r in rs if r.subscribe_s is not None]
        sub_txt = spread(subs, 3) if SCENARIO_PEERS_SUBSCRIBE.get(name, True) else 'n/a'
        pubs = [r.publish_s for r in good]
        lines.append(f'| {peers[name].label} | {wall_txt} | {ratio} | {rate} | {sub_txt} | {spread(pubs, 3)} | '
                     f'{spread(cpus, 2)} | {per_msg} | {spread(rss, 1)} | {len(good)}/{len(rs)} |')
    return '\n'.join(lines)


SCENARIO_PEERS_SUBSCRIBE = {'poll': False}


def summarize_latency(runs, peers):
    lines = ['### S1 — latency: 1 task, final PUBLISH → consumer (ms)', '',
             '| peer | ready line p50 | p90 | p99 | exit p50 | p90 | p99 | start-up → subscribed p50 | p99 | runs ok |',
             '|---|---|---|---|---|---|---|---|---|---|']
    by_peer = {}
    for r in runs:
        by_peer.setdefault(r.peer, []).append(r)
    for name in peers:
        rs = by_peer.get(name)
        if not rs:
            continue
        good = [r for r in rs if r.ok]
        line = [r.latency_line_ms for r in good if r.latency_line_ms is not None]
        ex = [r.latency_exit_ms for r in good if r.latency_exit_ms is not None]
        sub = [ms(r.subscribe_s) for r in good]
        lines.append(f'| {peers[name].label} | {fmt(percentile(line, 50), 2)} | {fmt(percentile(line, 90), 2)} | '
                     f'{fmt(percentile(line, 99), 2)} | {fmt(percentile(ex, 50), 2)} | {fmt(percentile(ex, 90), 2)} | '
                     f'{fmt(percentile(ex, 99), 2)} | '
                     f'{fmt(percentile(sub, 50), 1)} | {fmt(percentile(sub, 99), 1)} | {len(good)}/{len(rs)} |')
    return '\n'.join(lines)


def summarize_subscribe(all_runs, peers):
    """Start-up to subscribed, per number of ids, gathered from S1–S4."""
    cols = [(scn, f'{SCENARIOS[scn]["tasks"]:,} id{"s" * (SCENARIOS[scn]["tasks"] != 1)}'
             + (' (S3T, TLS)' if SCENARIOS[scn].get('tls') else ''))
            for scn in SCENARIOS if any(r.scenario == scn for r in all_runs)]
    if not cols:
        return ''
    lines = ['### Start-up → subscribed (s, median [min–max]; spawn → CLIENT LIST shows every channel)', '',
             '| peer | ' + ' | '.join(c for _, c in cols) + ' |', '|---' * (len(cols) + 1) + '|']
    for name, peer in peers.items():
        if not peer.subscribes:
            continue
        cells = []
        for scn, _ in cols:
            subs = [r.subscribe_s for r in all_runs if r.scenario == scn and r.peer == name
                    and r.subscribe_s is not None]
            cells.append(spread(subs, 4 if scn == 'S1' else 3))
        if any(cell != '—' for cell in cells):
            lines.append(f'| {peer.label} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def targets(all_runs, extra=()):
    """The issue's targets, checked when taskwatch ran; `extra`: more rows
    (name, measured, passed) from scale.py's scenarios."""
    def runs_of(scn, peer):
        return [r for r in all_runs if r.scenario == scn and r.peer == peer]

    def okv(scn, peer, attr):
        return med([getattr(r, attr) for r in runs_of(scn, peer) if r.ok])

    if not any(r.peer == 'taskwatch' for r in all_runs):
        return ''
    rows = []

    def add(name, value, passed):
        rows.append(f'| {name} | {value} | {"PASS" if passed else ("FAIL" if passed is not None else "n/a")} |')

    for scn in ('S3', 'S4'):
        tw = okv(scn, 'taskwatch', 'wall_s')
        jn = okv(scn, 'join_native', 'wall_s')
        capped = [r for r in runs_of(scn, 'join_native') if r.timed_out]
        if tw and jn:
            add(f'{scn}: join_native / taskwatch ≥ 10', f'{jn / tw:.1f}×', jn / tw >= 10)
        elif tw and capped:
            lower = min(r.wall_lower_s or 0 for r in capped)
            add(f'{scn}: join_native / taskwatch ≥ 10', f'> {lower / tw:.0f}× (capped)', lower / tw >= 10)
        else:
            add(f'{scn}: join_native / taskwatch ≥ 10', '—', None)
        fl = okv(scn, 'floor', 'wall_s')
        add(f'{scn}: taskwatch / redis-cli floor ≤ 1.5', f'{tw / fl:.3f}×' if tw and fl else '—',
            (tw / fl <= 1.5) if tw and fl else None)
    tw, fl = okv('S4', 'taskwatch', 'subscribe_s'), okv('S4', 'floor', 'subscribe_s')
    add('subscribe 100k: taskwatch / redis-cli ≤ 2', f'{tw:.3f} s / {fl:.3f} s = {tw / fl:.3f}×' if tw and fl else '—',
        (tw / fl <= 2) if tw and fl else None)
    for kind, attr in (('ready line', 'latency_line_ms'), ('exit', 'latency_exit_ms')):
        tw = [getattr(r, attr) for r in runs_of('S1', 'taskwatch') if r.ok and getattr(r, attr) is not None]
        fl = [getattr(r, attr) for r in runs_of('S1', 'floor') if r.ok and getattr(r, attr) is not None]
        if tw and fl:
            d50 = percentile(tw, 50) - percentile(fl, 50)
            d99 = percentile(tw, 99) - percentile(fl, 99)
            add(f'S1 added latency over redis-cli ({kind}), p50 < 1 ms', f'{d50:+.3f} ms', d50 < 1)
            add(f'S1 added latency over redis-cli ({kind}), p99 < 2 ms', f'{d99:+.3f} ms', d99 < 2)
    subs = [ms(r.subscribe_s) for r in runs_of('S1', 'taskwatch') if r.ok]
    if subs:
        p50 = percentile(subs, 50)
        add('start-up → subscribed, 1 id, p50 < 20 ms', f'{p50:.1f} ms', p50 < 20)
    plain, tls = okv('S3T', 'taskwatch', 'wall_s'), okv('S3T', 'taskwatch_tls', 'wall_s')
    if plain and tls:
        cpu_plain = med([r.consume_cpu_s for r in runs_of('S3T', 'taskwatch') if r.ok and r.consume_cpu_s])
        cpu_tls = med([r.consume_cpu_s for r in runs_of('S3T', 'taskwatch_tls') if r.ok and r.consume_cpu_s])
        cpu_txt = f', consume CPU {cpu_tls / cpu_plain:.2f}×' if cpu_plain and cpu_tls else ''
        add('S3 over TLS: cost against plain TCP (reported, no target)',
            f'wall {tls:.3f} s / {plain:.3f} s = {tls / plain:.2f}×{cpu_txt}', None)
    rss = okv('S4', 'taskwatch', 'maxrss_kb')
    add('peak RSS at 100k tasks < 40 MB', f'{rss / 1024:.1f} MB' if rss else '—', (rss / 1024 < 40) if rss else None)
    # Consume CPU is counted from the first PUBLISH, and the stream starts as
    # soon as every channel is subscribed, so it also holds the snapshot: one
    # stored key read and one state line per task. That is per-task work, one
    # per message in S4 but 0.2 per message in S2, so per message alone rises
    # with S4's share of it; per event (message or snapshot key) is what shows
    # whether any work grows with the number of tasks watched.
    per_msg, per_event = {}, {}
    for scn in ('S2', 'S3', 'S4'):
        rs = [r for r in runs_of(scn, 'taskwatch') if r.ok and r.consume_cpu_s is not None]
        if rs:
            per_msg[scn] = med([r.consume_cpu_s / r.messages * 1e6 for r in rs])
            per_event[scn] = med([r.consume_cpu_s / (r.messages + r.tasks) * 1e6 for r in rs])
    if len(per_msg) >= 2:
        txt = ', '.join(f'{k} {v:.1f}' for k, v in per_msg.items())
        ratio = max(per_msg.values()) / min(per_msg.values())
        add('consume CPU per message S2→S4 (reported: includes the snapshot, see README)',
            f'{txt} µs/msg (max/min {ratio:.2f})', None)
        txt = ', '.join(f'{k} {v:.1f}' for k, v in per_event.items())
        ratio = max(per_event.values()) / min(per_event.values())
        add('consume CPU per event (message or snapshot key) flat S2→S4 (max/min ≤ 1.5)',
            f'{txt} µs/event (max/min {ratio:.2f})', ratio <= 1.5)
    for name, value, passed in extra:
        add(name, value, passed)
    return '\n'.join(['### Targets (taskwatch)', '', '| target | measured | |', '|---|---|---|'] + rows)


# --------------------------------------------------------------------------

def main():
    import scale    # its scenarios build on this module's harness: imported once this one is loaded
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--quick', action='store_true', help='a ~2 minute run: fewer reps, S4 join_native capped at 30 s')
    ap.add_argument('--reps', type=int, help='repetitions of S2–S4 (default 3; quick 1)')
    ap.add_argument('--latency-reps', type=int, help='repetitions of S1 (default 60; quick 15)')
    ap.add_argument('--scenarios',
                    help='comma-separated subset of S1,S2,S3,S3T,S4,ST,S5 (S3T: S3 over TLS, taskwatch only; '
                         'ST: start-up; S5: 1,000,000 ids); default all, --quick all but S5')
    ap.add_argument('--peers', default='floor,taskwatch,join_native,poll',
                    help='comma-separated subset of floor,taskwatch,join_native,poll')
    ap.add_argument('--taskwatch', default='', help='taskwatch binary (empty: peer left out)')
    ap.add_argument('--taskwatch-quiet', action='store_true', help='run taskwatch with --quiet (no stdout check)')
    ap.add_argument('--taskwatch-arg', action='append', default=[], metavar='ARG',
                    help='extra argument for taskwatch, repeatable (e.g. --taskwatch-arg=--no-verify)')
    ap.add_argument('--floor-counter', required=True)
    ap.add_argument('--redis-cli', default='redis-cli')
    ap.add_argument('--poll-interval', type=float, default=0.1)
    ap.add_argument('--poll-s4', action='store_true', help='also run the polling loop at 100k tasks')
    ap.add_argument('--join-cap', type=float, help='seconds before join_native is killed at S4 (default 120; quick 30)')
    ap.add_argument('--s1-interval', type=float, default=0.2,
                    help='seconds between S1 updates (0.2: the final one comes after join_native\'s 0.5 s start-up sleep)')
    ap.add_argument('--batch', type=int, default=500, help='messages per pipelined batch')
    ap.add_argument('--window', type=int, default=2000, help='messages in flight before the publisher waits for acks')
    ap.add_argument('--results', default=str(HERE / 'results'))
    ap.add_argument('--pidfile', help='where to record the redis-server PID (for the caller\'s trap)')
    ap.add_argument('--keep', action='store_true', help='keep the scratch directory')
    ap.add_argument('--verbose', action='store_true')
    args = ap.parse_args()
    args.reps = args.reps or (1 if args.quick else 3)
    args.latency_reps = args.latency_reps or (15 if args.quick else 60)
    args.join_cap = args.join_cap or (30 if args.quick else 120)
    args.scenarios = args.scenarios or ('S1,S2,S3,S3T,S4,ST' if args.quick else 'S1,S2,S3,S3T,S4,ST,S5')
    scenarios = [s.strip() for s in args.scenarios.split(',') if s.strip()]
    wanted = [p.strip() for p in args.peers.split(',') if p.strip()]
    for s in scenarios:
        if s not in SCENARIOS:
            ap.error(f'unknown scenario {s}')

    workdir = tempfile.mkdtemp(prefix='taskwatch-bench-')
    tls = None
    if any(SCENARIOS[s].get('tls') for s in scenarios) and args.taskwatch:
        try:
            tls = TLSFiles.make(workdir)
        except (OSError, subprocess.SubprocessError) as e:
            log(f'no TLS certificates ({e}): S3T is left out')
            scenarios = [s for s in scenarios if not SCENARIOS[s].get('tls')]
    server = RedisServer(workdir, args.pidfile, tls)

    def on_signal(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)
    started = time.time()
    try:
        server.start()
        log(f'redis-server {server.port} pid {server.proc.pid}, scratch {workdir}')
        monitor = Monitor(server.port)
        bench = Bench(args, server, monitor, workdir)
        peers = {k: v for k, v in bench.peers.items()
                 if k in wanted or (k == 'taskwatch_tls' and 'taskwatch' in wanted)}
        if 'taskwatch' in wanted and 'taskwatch' not in bench.peers:
            log('taskwatch: no binary -- that peer is left out of this run')
        payloads = CeleryPayloads(bench.url)
        sample = payloads.self_check(monitor)
        log('payload self-check against Celery store_result: ok', sample[:120])
        all_runs, sections, caps_note = [], [], []
        pub_rows = []
        startup_runs, extra_targets = [], []
        for scn in scenarios:
            spec = SCENARIOS[scn]
            if scn == 'ST':
                startup_runs = scale.run_startup(bench, [n for n in peers if n == 'taskwatch'],
                                                 args.latency_reps)
                sections.append(scale.summarize_startup(startup_runs))
                extra_targets += [t for t in [scale.startup_target(startup_runs)] if t]
                continue
            ids = make_ids(spec['tasks'], seed=spec['seed'] if 'seed' in spec else int(scn[1:]))
            t = time.monotonic()
            stream = build_stream(payloads, ids, spec['updates'], args.batch)
            bench.ids_file, bench.channels_file = bench.write_inputs(scn, ids)
            log(f'{scn}: {len(ids):,} tasks, {stream.n_msgs:,} messages built in {time.monotonic() - t:.1f} s')
            gc.collect()
            gc.freeze()
            if spec.get('tls'):
                names = [n for n in peers if n in ('taskwatch', 'taskwatch_tls')]
            else:
                names = [n for n in peers if n != 'taskwatch_tls']
            if spec.get('tls') and 'taskwatch_tls' not in names:
                log(f'{scn}: needs the taskwatch peer and TLS certificates -- skipped')
                continue
            if scn == 'S4' and 'poll' in names and not args.poll_s4:
                names.remove('poll')
                caps_note.append('S4: the polling loop is skipped (one pass over 100,000 ids is ~100,000 GETs; use --poll-s4).')
            runs = []
            if scn == 'S5':
                for name in [n for n in names if n not in ('floor', 'taskwatch')]:
                    names.remove(name)
                base = {name: scale.base_rss_kb(bench, peers[name]) for name in names}
                for rep in range(args.reps):
                    for pos, name in enumerate(peer_order(names, rep)):
                        runs.append(scale.run_million(bench, rep, pos, peers[name], stream, 300, base[name]))
                sections.append(scale.summarize_million(runs, peers))
                extra_targets += scale.million_targets(runs)
            elif scn == 'S1':
                for rep in range(args.latency_reps):
                    for pos, name in enumerate(peer_order(names, rep)):
                        runs.append(bench.run_latency(scn, rep, pos, peers[name], stream, 30, args.s1_interval))
                    if (rep + 1) % 10 == 0:
                        log(f'S1: {rep + 1}/{args.latency_reps} reps')
                sections.append(summarize_latency(runs, peers))
            else:
                rates = bench.publisher_only(scn, stream, max(1, min(3, args.reps)))
                pub_rows.append((scn, stream.n_msgs, rates))
                base_cap = {'S2': 60, 'S3': 120, 'S3T': 120, 'S4': 120}[scn]
                for rep in range(args.reps):
                    for pos, name in enumerate(peer_order(names, rep)):
                        cap = base_cap
                        if name == 'join_native' and scn == 'S4':
                            cap = args.join_cap
                        if name == 'poll':
                            cap = min(cap, 60 if not args.quick else 30)
                        runs.append(bench.run_bulk(scn, rep, pos, peers[name], stream, cap))
                sections.append(summarize_bulk(scn, runs, peers, None))
            all_runs.extend(runs)
            gc.unfreeze()
            del stream
            gc.collect()
        rate_celery = None
        if pub_rows:
            ids = make_ids(2000, seed=99)
            stream = build_stream(payloads, ids, 1, args.batch)
            rate_celery = bench.celery_pipeline_rate(stream, 2000)
        pub_md = ['### Publisher alone (no subscriber)', '',
                  '| scenario | messages | msg/s, median [min–max] |', '|---|---|---|']
        for scn, n, rates in pub_rows:
            pub_md.append(f'| {scn} | {n:,} | {spread(rates, 1)} |')
        if rate_celery:
            pub_md.append(f'\nFor scale: one `pipeline()` round trip per message, as a Celery worker '
                          f'stores results, reaches {rate_celery:,.0f} msg/s on one connection.')
        tgt = targets(all_runs, extra_targets)
        sub_md = summarize_subscribe(all_runs, peers)
        if sub_md:
            sections.append(sub_md)
        header = [f'## taskwatch benchmark — {time.strftime("%Y-%m-%d %H:%M:%S")}', '',
                  f'Machine: {os.cpu_count()} CPUs, {platform_line()}; redis-server '
                  f'{redis_version(monitor)}; celery {celery_version()}; '
                  f'taskwatch: {" ".join([args.taskwatch] + args.taskwatch_arg) if args.taskwatch else "not built"}.',
                  f'Reps: S1 and ST {args.latency_reps}, S2–S5 {args.reps}; peers alternate in rotated order '
                  f'within each rep. Wall = first PUBLISH → consumer exit; subscribe = spawn → all '
                  f'channels subscribed (CLIENT LIST sub=); polling loop interval {args.poll_interval:g} s.']
        notes = caps_note + [f'join_native at S4 is capped at {args.join_cap:g} s.']
        doc = '\n\n'.join(['\n'.join(header[:2]), '\n'.join(header[2:])] + sections +
                          (['\n'.join(pub_md)] if pub_rows else []) + ([tgt] if tgt else []) +
                          ['Notes: ' + ' '.join(notes)])
        print(doc)
        out = Path(args.results)
        out.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime('%Y%m%d-%H%M%S')
        (out / f'bench-{stamp}.md').write_text(doc + '\n')
        (out / f'bench-{stamp}.json').write_text(json.dumps({
            'started': started, 'elapsed_s': time.time() - started, 'args': vars(args),
            'publisher_msgs_per_s': {k: v for k, _, v in pub_rows},
            'celery_pipeline_msgs_per_s': rate_celery,
            'runs': [asdict(r) for r in all_runs],
            'startup_runs': [asdict(r) for r in startup_runs]}, indent=1))
        log(f'saved {out}/bench-{stamp}.md and .json ({time.time() - started:.0f} s)')
        failed = [r for r in all_runs if not r.ok and not r.timed_out]
        return 1 if failed else 0
    except KeyboardInterrupt:
        log('interrupted')
        return 130
    finally:
        server.stop()
        if not args.keep:
            import shutil
            shutil.rmtree(workdir, ignore_errors=True)


def platform_line():
    import platform
    return f'{platform.system()} {platform.release()}, Python {platform.python_version()}'


def redis_version(monitor):
    return monitor.r.info('server').get('redis_version', '?')


def celery_version():
    import celery
    return celery.__version__


if __name__ == '__main__':
    sys.exit(main())
