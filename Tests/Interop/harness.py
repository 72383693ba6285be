"""Private redis-server and Celery worker processes for taskwatch's interop
tests and the fixture capture.

Rules this module keeps: a redis-server only on a free loopback port that the
OS picked (never 6379), with persistence off and its own temp dir; every
process is stopped by the PID recorded when it was started; every wait has a
deadline.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
APP_DIR = os.path.join(REPO_ROOT, "examples", "celery-app")
VENV_BIN = os.path.join(REPO_ROOT, ".venv", "bin")


def free_loopback_port():
    """Ask the OS for a free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _redis_ping(port, timeout=0.5):
    """Send an inline PING; True when +PONG comes back."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def stop_pid(proc, term_timeout=10.0):
    """Stop a process we started, by its PID: SIGTERM, then SIGKILL to its
    process group (it was started in a session of its own) if it lingers."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.kill(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=term_timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=5)
    # A prefork worker's children share the group; make sure none outlive it.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def make_tls_files(directory, subject_alt_name="IP:127.0.0.1"):
    """A CA and a server certificate for 127.0.0.1 (or the names given),
    made with the openssl CLI.

    Returns (ca_file, certificate_file, key_file)."""
    key_opts = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    path = lambda name: os.path.join(directory, name)  # noqa: E731
    with open(path("server.ext"), "w") as f:
        f.write("subjectAltName=%s\nextendedKeyUsage=serverAuth\n" % subject_alt_name)
    for argv in (
            ["req", "-x509"] + key_opts + ["-keyout", path("ca.key"), "-out", path("ca.crt"),
                                           "-subj", "/CN=taskwatch interop CA", "-days", "2"],
            ["req"] + key_opts + ["-keyout", path("server.key"), "-out", path("server.csr"),
                                  "-subj", "/CN=127.0.0.1"],
            ["x509", "-req", "-in", path("server.csr"), "-CA", path("ca.crt"),
             "-CAkey", path("ca.key"), "-CAcreateserial", "-out", path("server.crt"),
             "-days", "2", "-extfile", path("server.ext")]):
        subprocess.run(["openssl"] + argv, check=True, capture_output=True, timeout=30)
    return path("ca.crt"), path("server.crt"), path("server.key")


class RedisServer:
    """A throwaway redis-server on a free loopback port; with `tls=True` it
    also listens with TLS on `tls_port` (certificates made at start)."""

    def __init__(self, start_timeout=10.0, tls=False,
                 tls_subject_alt_name="IP:127.0.0.1"):
        self.start_timeout = start_timeout
        self.tls = tls
        self.tls_subject_alt_name = tls_subject_alt_name
        self.proc = None
        self.port = None
        self.tls_port = None
        self.ca_file = None
        self.dir = None

    def start(self):
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server not found (apt-get install redis-server)")
        self.dir = tempfile.mkdtemp(prefix="taskwatch-redis-")
        tls_args = []
        if self.tls:
            self.ca_file, certificate, key = make_tls_files(
                self.dir, self.tls_subject_alt_name)
            self.tls_port = free_loopback_port()
            tls_args = ["--tls-port", str(self.tls_port), "--tls-cert-file", certificate,
                        "--tls-key-file", key, "--tls-ca-cert-file", self.ca_file,
                        "--tls-auth-clients", "no"]
        last_error = None
        for _attempt in range(3):  # a port can be taken between probe and bind
            self.port = free_loopback_port()
            if self.port == 6379:
                continue
            log = os.path.join(self.dir, "redis.log")
            self.proc = subprocess.Popen(
                [exe, "--port", str(self.port), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "no", "--dir", self.dir,
                 "--daemonize", "no", "--logfile", log] + tls_args,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True)
            deadline = time.monotonic() + self.start_timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                if _redis_ping(self.port):
                    return self
                time.sleep(0.05)
            last_error = "redis-server on port %d did not answer PING" % self.port
            stop_pid(self.proc)
        raise RuntimeError(last_error)

    def url(self, db=0):
        return "redis://127.0.0.1:%d/%d" % (self.port, db)

    def tls_url(self, db=0):
        """The rediss:// URL in Celery's form, with full verification."""
        return "rediss://127.0.0.1:%d/%d?ssl_cert_reqs=required&ssl_ca_certs=%s" % (
            self.tls_port, db, self.ca_file)

    def stop(self):
        stop_pid(self.proc)
        self.proc = None
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class Worker:
    """A `celery -A demoapp worker` with its own queue and settings.

    settings: DEMO_* environment variables (see examples/celery-app/demoapp.py).
    """

    def __init__(self, name, queue, redis, settings=None, pool="solo",
                 logdir=None):
        self.name = name
        self.queue = queue
        self.redis = redis
        self.settings = dict(settings or {})
        self.pool = pool
        self.logdir = logdir or tempfile.mkdtemp(prefix="taskwatch-worker-")
        self.logfile = os.path.join(self.logdir, "%s.log" % name)
        self.proc = None

    @property
    def hostname(self):
        return "%s@taskwatch" % self.name

    def env(self):
        env = dict(os.environ)
        for key in list(env):
            if key.startswith("DEMO_"):
                del env[key]
        env.update({
            "DEMO_BROKER_URL": self.redis.url(1),
            "DEMO_RESULT_BACKEND": self.redis.url(0),
            "PYTHONPATH": APP_DIR,
            # Tests and CI run as root; a worker that accepts pickle refuses
            # to start as root unless told this is deliberate.
            "C_FORCE_ROOT": "1",
        })
        env.update(self.settings)
        return env

    def start(self):
        celery = os.path.join(VENV_BIN, "celery")
        if not os.path.exists(celery):
            celery = os.path.join(os.path.dirname(sys.executable), "celery")
        cmd = [celery, "-A", "demoapp", "worker", "--pool", self.pool,
               "-n", self.hostname, "-Q", self.queue,
               "--without-gossip", "--without-mingle", "--without-heartbeat",
               "--loglevel", "INFO", "--logfile", self.logfile]
        if self.pool == "prefork":
            cmd += ["--concurrency", "1"]
        # Output before logging is set up (e.g. a refusal to start) goes here.
        self.outfile = os.path.join(self.logdir, "%s.out" % self.name)
        with open(self.outfile, "wb") as out:
            self.proc = subprocess.Popen(
                cmd, cwd=APP_DIR, env=self.env(), stdin=subprocess.DEVNULL,
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def wait_ready(self, timeout=30.0):
        """Wait until the worker logs that it is ready to take tasks."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("worker %s exited with %s:\n%s" % (
                    self.name, self.proc.returncode, self.log_tail()))
            if " ready." in self.log_tail(20000):
                return self
            time.sleep(0.1)
        raise RuntimeError("worker %s not ready after %.0fs:\n%s" % (
            self.name, timeout, self.log_tail()))

    def log_tail(self, size=4000):
        text = ""
        for path in (getattr(self, "outfile", None), self.logfile):
            try:
                with open(path, "rb") as f:
                    f.seek(0, os.SEEK_END)
                    f.seek(max(0, f.tell() - size))
                    text += f.read().decode("utf-8", "replace")
            except (OSError, TypeError):
                pass
        return text

    def stop(self):
        stop_pid(self.proc)
        self.proc = None


def client_app(redis):
    """The demo app as a task *sender*, bound to this redis (JSON settings)."""
    os.environ["DEMO_BROKER_URL"] = redis.url(1)
    os.environ["DEMO_RESULT_BACKEND"] = redis.url(0)
    for key in ("DEMO_RESULT_SERIALIZER", "DEMO_RESULT_COMPRESSION",
                "DEMO_RESULT_EXTENDED", "DEMO_GLOBAL_KEYPREFIX"):
        os.environ.pop(key, None)
    if APP_DIR not in sys.path:
        sys.path.insert(0, APP_DIR)
    import demoapp  # noqa: E402  (imported after the environment is set)
    return demoapp


def release_client(demo):
    """Forget the result subscriptions the sender made.

    Celery's Redis backend subscribes to a task's channel as soon as the task
    is sent (on_task_call). Left alone, AsyncResult.__del__ at interpreter
    exit tries to UNSUBSCRIBE, and to reconnect to the redis-server we have
    already stopped. Call this before stopping the server.
    """
    consumer = getattr(demo.app.backend, "result_consumer", None)
    if consumer is None:
        return
    consumer.subscribed_to.clear()
    try:
        consumer.stop()
    except Exception:  # the connection may already be gone; nothing to keep
        pass
