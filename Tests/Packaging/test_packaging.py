"""The release artefacts of scripts/package, tested where they will run.

The tarball's binary runs in a bare root filesystem that holds nothing but the
C library files `ldd` names (and the dynamic loader), entered with chroot:
--version, --help, a real watch against a private redis-server on loopback,
and a rediss:// URL that must fail cleanly because no libssl is there. The
.deb is installed with `dpkg --root` into such a tree (whose dpkg database
knows only the C library's own package, so Depends is checked for real), run
there, read with `man -l`, and removed again.

Run with Tests/Packaging/run, which makes the artefacts first.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import uuid

import pytest
import redis

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "Interop"))
import harness  # noqa: E402

DIST = os.environ.get("TASKWATCH_DIST") or os.path.join(harness.REPO_ROOT, "dist")
FIXTURES = os.path.join(harness.REPO_ROOT, "Tests", "Fixtures", "celery")
# What `ldd` may list: the C library family, nothing else.
C_LIBRARY = re.compile(r"^(libc\.so\.6|libm\.so\.6|ld-linux[-\w.]*\.so\.\d+|linux-vdso\.so\.1)$")
# chroot and dpkg --root need root; without it, a user namespace maps us to root.
AS_ROOT = [] if os.geteuid() == 0 else ["unshare", "--user", "--map-root-user"]


def run(argv, timeout=30, **kwargs):
    return subprocess.run(argv, capture_output=True, text=True, errors="replace", timeout=timeout,
                          **kwargs)


def artefact(pattern):
    names = [name for name in os.listdir(DIST) if re.fullmatch(pattern, name)]
    assert len(names) == 1, "expected one %s in %s, found %s" % (pattern, DIST, names)
    return os.path.join(DIST, names[0])


@pytest.fixture(scope="session")
def unpacked(tmp_path_factory):
    """The tarball, extracted: (directory, version)."""
    tarball = artefact(r"taskwatch-[^-]+-linux-[^-]+\.tar\.gz")
    version = re.fullmatch(r"taskwatch-([^-]+)-linux-.*", os.path.basename(tarball)).group(1)
    target = str(tmp_path_factory.mktemp("tarball"))
    with tarfile.open(tarball) as archive:
        archive.extractall(target, filter="data")
        debug = artefact(r"taskwatch-[^-]+-linux-[^-]+-debug\.tar\.gz")
    with tarfile.open(debug) as archive:
        archive.extractall(target, filter="data")
    (top,) = os.listdir(target)
    return os.path.join(target, top), version


@pytest.fixture(scope="session")
def binary(unpacked):
    return os.path.join(unpacked[0], "taskwatch")


def ldd_files(path):
    """The files the dynamic loader maps for `path`, as ldd resolves them."""
    result = run(["ldd", path])
    assert result.returncode == 0, result.stderr
    files = []
    for line in result.stdout.splitlines():
        match = re.match(r"\s*(\S+)(?: => (\S+))? \(0x", line)
        assert match, "unexpected ldd line: %r" % line
        name, resolved = match.groups()
        assert C_LIBRARY.match(os.path.basename(name)), "ldd lists %s:\n%s" % (name, result.stdout)
        if resolved:
            files.append(resolved)
        elif name.startswith("/"):
            files.append(name)  # the dynamic loader
    return files


def bare_root(binary, directory):
    """A root filesystem holding the binary as /taskwatch and the files ldd names."""
    for path in ldd_files(binary):
        target = directory + path
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(path, target)  # follows symlinks: a real file at the path ldd named
    shutil.copy2(binary, os.path.join(directory, "taskwatch"))
    return directory


def tree(directory):
    return sorted(os.path.relpath(os.path.join(base, name), directory)
                  for base, _, names in os.walk(directory) for name in names)


@pytest.fixture
def root():
    directory = tempfile.mkdtemp(prefix="taskwatch-bare-root-")
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server():
    server = harness.RedisServer(tls=True).start()
    yield server
    server.stop()


def celery_success(task_id):
    """A SUCCESS payload captured from a real Celery worker, for `task_id`."""
    with open(os.path.join(FIXTURES, "success.published-2-SUCCESS.json")) as f:
        meta = json.load(f)
    meta["task_id"] = task_id
    return json.dumps(meta)


def store_and_publish(client, task_id, payload):
    """What a worker does: SETEX and PUBLISH in one MULTI/EXEC."""
    key = "celery-task-meta-" + task_id
    with client.pipeline(transaction=True) as pipe:
        pipe.setex(key, 86400, payload)
        pipe.publish(key, payload)
        pipe.execute()


def test_tarball_holds_the_binary_its_debug_info_and_the_docs(unpacked):
    directory, version = unpacked
    assert tree(directory) == [
        "LICENSE", "README.md", "completions/_taskwatch", "completions/taskwatch.bash",
        "completions/taskwatch.fish", "taskwatch", "taskwatch.1", "taskwatch.debug"]
    binary = os.path.join(directory, "taskwatch")
    assert os.access(binary, os.X_OK)
    sections = run(["readelf", "-S", "-W", binary]).stdout
    assert ".symtab" not in sections and ".debug_info" not in sections, "binary not stripped"
    debuglink = run(["readelf", "--string-dump=.gnu_debuglink", binary]).stdout
    assert "taskwatch.debug" in debuglink
    build_id = lambda path: re.search(r"Build ID: (\w+)", run(["readelf", "-n", path]).stdout).group(1)  # noqa: E731
    assert build_id(binary) == build_id(os.path.join(directory, "taskwatch.debug"))
    assert ".debug_info" in run(["readelf", "-S", "-W", os.path.join(directory, "taskwatch.debug")]).stdout
    assert run([binary, "--version"]).stdout.strip() == "taskwatch " + version


def test_binary_needs_only_the_c_library_and_the_glibc_the_readme_states(binary):
    needed = re.findall(r"NEEDED\s+(\S+)", run(["objdump", "-p", binary]).stdout)
    assert needed and all(C_LIBRARY.match(name) for name in needed), needed
    symbols = run(["objdump", "-T", binary]).stdout
    versions = {tuple(int(part) for part in found.split("."))
                for found in re.findall(r"\(GLIBC_([\d.]+)\)", symbols)}
    newest = ".".join(map(str, max(versions)))
    with open(os.path.join(harness.REPO_ROOT, "README.md")) as f:
        readme = f.read()
    assert "glibc %s or later" % newest in readme, "README must state glibc %s" % newest


def test_runs_in_a_bare_root_filesystem(binary, unpacked, root, redis_server):
    bare_root(binary, root)
    contents = tree(root)
    assert "taskwatch" in contents and all(
        C_LIBRARY.match(os.path.basename(path)) for path in contents if path != "taskwatch"), contents
    chroot = AS_ROOT + ["chroot", root, "/taskwatch"]

    version = run(chroot + ["--version"])
    assert (version.returncode, version.stdout.strip()) == (0, "taskwatch " + unpacked[1]), version.stderr
    help_text = run(chroot + ["--help"])
    assert help_text.returncode == 0 and "USAGE:" in help_text.stdout, help_text.stderr

    client = redis.Redis(port=redis_server.port)
    stored, published = str(uuid.uuid4()), str(uuid.uuid4())
    client.setex("celery-task-meta-" + stored, 86400, celery_success(stored))
    watch = subprocess.Popen(
        chroot + ["--url", redis_server.url(), "--timeout", "20s", stored, published],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = [json.loads(watch.stdout.readline()) for _ in range(2)]
        assert [(line["task_id"], line["state"], line["source"]) for line in lines] == [
            (stored, "SUCCESS", "snapshot"), (published, "PENDING", "snapshot")]
        store_and_publish(client, published, celery_success(published))
        out, err = watch.communicate(timeout=20)
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.communicate()
    (last,) = [json.loads(line) for line in out.splitlines()]
    assert (last["task_id"], last["state"], last["previous"], last["source"]) == (
        published, "SUCCESS", "PENDING", "message")
    assert watch.returncode == 0, err

    # OpenSSL is loaded on first TLS use, not linked: without libssl a
    # rediss:// URL is a clean exit 69 with the reason, not a loader error.
    tls_url = "rediss://127.0.0.1:%d/0?ssl_cert_reqs=none" % redis_server.tls_port
    tls = run(chroot + ["--url", tls_url, "--once", stored])
    assert tls.returncode == 69 and "cannot load OpenSSL 3" in tls.stderr, (tls.returncode, tls.stderr)


def test_the_same_binary_speaks_tls_where_libssl_is_installed(binary, redis_server):
    client = redis.Redis(port=redis_server.port)
    task = str(uuid.uuid4())
    client.setex("celery-task-meta-" + task, 86400, celery_success(task))
    result = run([binary, "--url", redis_server.tls_url(), "--once", task])
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["state"] == "SUCCESS"


def test_deb_installs_into_a_bare_root_runs_and_removes(binary, unpacked, root):
    deb = artefact(r"taskwatch_[^_]+_[^_]+\.deb")
    control = run(["dpkg-deb", "--field", deb]).stdout
    fields = dict(re.findall(r"^([\w-]+): (.*)$", control, re.M))
    assert fields["Version"] == unpacked[1]
    assert fields["Recommends"] == "libssl3"
    assert re.fullmatch(r"libc6 \(>= [\d.]+\)", fields["Depends"]), fields["Depends"]

    # The bare root, plus a dpkg database listing the packages that own its files.
    bare_root(binary, root)
    os.remove(os.path.join(root, "taskwatch"))
    admin = os.path.join(root, "var", "lib", "dpkg")
    os.makedirs(os.path.join(admin, "info"))
    os.makedirs(os.path.join(admin, "updates"))
    owners = set()
    for path in ldd_files(binary):
        owner = run(["dpkg-query", "-S", path])
        assert owner.returncode == 0, owner.stderr
        owners.add(owner.stdout.split(":")[0])
    with open(os.path.join(admin, "status"), "w") as status:
        for package in sorted(owners):
            status.write(run(["dpkg-query", "-s", package]).stdout.rstrip("\n") + "\n\n")

    install = run(AS_ROOT + ["dpkg", "--root", root, "--log", "/dev/null", "-i", deb], timeout=60)
    assert install.returncode == 0, install.stdout + install.stderr
    for path in ("usr/bin/taskwatch", "usr/share/man/man1/taskwatch.1.gz",
                 "usr/share/bash-completion/completions/taskwatch",
                 "usr/share/zsh/vendor-completions/_taskwatch",
                 "usr/share/fish/vendor_completions.d/taskwatch.fish",
                 "usr/share/doc/taskwatch/copyright"):
        assert os.path.isfile(os.path.join(root, path)), path
    version = run(AS_ROOT + ["chroot", root, "/usr/bin/taskwatch", "--version"])
    assert (version.returncode, version.stdout.strip()) == (0, "taskwatch " + unpacked[1]), version.stderr

    page = run(["man", "-l", os.path.join(root, "usr/share/man/man1/taskwatch.1.gz")],
               env=dict(os.environ, MANPAGER="cat", MANWIDTH="80"))
    assert page.returncode == 0, page.stderr
    for heading in ("NAME", "SYNOPSIS", "EXIT STATUS", "ENVIRONMENT", "EXAMPLES"):
        assert re.search(r"^%s$" % heading, page.stdout, re.M), heading

    remove = run(AS_ROOT + ["dpkg", "--root", root, "--log", "/dev/null", "-r", "taskwatch"], timeout=60)
    assert remove.returncode == 0, remove.stdout + remove.stderr
    assert not os.path.exists(os.path.join(root, "usr/bin/taskwatch"))
