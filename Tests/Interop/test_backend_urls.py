"""taskwatch reads a backend URL and TLS settings as Celery 5.7 does.

Each case gives the same URL (and settings) to Celery's own Redis backend
(kombu 5.7, redis-py 8.1) and to taskwatch, and checks that both reach the
result, or both refuse. Results are written by Celery's backend
(`store_result`), so the payloads are Celery's own.
"""

import ssl

import pytest
from celery import Celery

import harness
from conftest import Taskwatch, new_id


def celery_backend(url, **settings):
    """Celery's Redis result backend for `url`, with `settings` applied."""
    app = Celery("urlprobe", backend=url, broker="memory://")
    app.conf.update(redis_socket_connect_timeout=3, redis_socket_timeout=3,
                    redis_retry_on_timeout=False, **settings)
    return app.backend


def celery_reads(url, task_id, **settings):
    """The state Celery's backend reads for `task_id` through `url`, or the
    exception it raised."""
    backend = celery_backend(url, **settings)
    try:
        return backend.get_task_meta(task_id)["status"]
    except Exception as error:  # what Celery raises is the answer here
        return error
    finally:
        backend.client.connection_pool.disconnect()


def store_success(url, result=42):
    """A SUCCESS result written by Celery's backend; its task id."""
    task_id = new_id()
    backend = celery_backend(url)
    backend.store_result(task_id, result, "SUCCESS")
    backend.client.connection_pool.disconnect()
    return task_id


@pytest.fixture
def acl_user(rclient):
    """An ACL user `appuser-<n>` with password `pw-<n>`, deleted afterwards."""
    suffix = new_id()[:8]
    name, password = "appuser-" + suffix, "pw-" + suffix
    rclient.execute_command("ACL", "SETUSER", name, "on", ">" + password,
                            "~*", "&*", "+@all")
    yield name, password
    rclient.execute_command("ACL", "DELUSER", name)


# --- credentials ----------------------------------------------------------------

def test_userinfo_without_colon_is_the_user_name(tw, redis_server, acl_user):
    name, password = acl_user
    task_id = store_success(redis_server.url(0))
    url = "redis://%s@127.0.0.1:%d/0" % (name, redis_server.port)
    # Celery: the name from the URL, the password from redis_password.
    backend = celery_backend(url, redis_password=password)
    assert backend.client.acl_whoami() == name
    assert backend.get_task_meta(task_id)["status"] == "SUCCESS"
    backend.client.connection_pool.disconnect()

    run = Taskwatch(tw.binary, url).run(task_id, env={"TASKWATCH_PASSWORD": password})
    assert run.returncode == 0, run.describe()
    assert run.states[-1]["state"] == "SUCCESS" and run.states[-1]["meta"]["result"] == 42

    run = Taskwatch(tw.binary, url).run(task_id, env={"TASKWATCH_PASSWORD": ""})
    assert run.returncode == 64, run.describe()
    assert "names the user '%s' but no password" % name in run.stderr_text


def test_empty_password_sends_no_auth(tw, redis_server):
    task_id = store_success(redis_server.url(0))
    url = "redis://:@127.0.0.1:%d/0" % redis_server.port
    assert celery_reads(url, task_id) == "SUCCESS"
    run = Taskwatch(tw.binary, url).run(task_id)
    assert run.returncode == 0, run.describe()
    assert run.states[-1]["meta"]["result"] == 42


# --- URL mistakes -----------------------------------------------------------------

def test_empty_ipv6_host_is_a_usage_error_at_once(tw):
    run = Taskwatch(tw.binary, "redis://[]:7000/3").run(new_id(), subprocess_timeout=10)
    assert run.returncode == 64, run.describe()
    assert "empty host" in run.stderr_text
    assert run.elapsed < 3, run.elapsed


def test_slash_in_password_gets_a_hint_without_showing_the_password(tw, redis_server):
    url = "redis://:se/cret@127.0.0.1:%d/0" % redis_server.port
    run = Taskwatch(tw.binary, url).run(new_id(), subprocess_timeout=10)
    assert run.returncode == 64, run.describe()
    assert "%2F" in run.stderr_text and "cret" not in run.stderr_text, run.stderr_text


@pytest.mark.parametrize("text", [
    'CELERY_RESULT_BACKEND = "redis://127.0.0.1:1/0"',
    '"redis://127.0.0.1:1/0"',
])
def test_pasted_settings_line_is_echoed_as_written(tw, text):
    run = Taskwatch(tw.binary, text).run(new_id(), subprocess_timeout=10)
    assert run.returncode == 64, run.describe()
    assert text in run.stderr_text, run.stderr_text
    assert "give only the URL" in run.stderr_text


# --- TLS: ssl_check_hostname, ssl_cert_reqs, redis_backend_use_ssl ---------------

@pytest.fixture(scope="module")
def misnamed_tls_server():
    """A TLS redis-server on 127.0.0.1 whose certificate names 127.0.0.2 only:
    the chain is trusted, the name is not."""
    server = harness.RedisServer(tls=True, tls_subject_alt_name="IP:127.0.0.2").start()
    yield server
    server.stop()


TLS_CASES = [
    # (URL query, the redis_backend_use_ssl-style options, does Celery connect?)
    ("ssl_cert_reqs=required", [], False),
    ("ssl_cert_reqs=required&ssl_check_hostname=false", [], True),
    ("ssl_cert_reqs=optional", [], False),  # redis-py 8.1 checks the name here too
    ("ssl_cert_reqs=optional&ssl_check_hostname=false", [], True),
    ("ssl_cert_reqs=none", [], True),
    ("ssl_cert_reqs=none&ssl_check_hostname=true", [], True),
]


@pytest.mark.parametrize("query,options,connects", TLS_CASES)
def test_rediss_host_name_check_agrees_with_celery(tw, misnamed_tls_server, query, options,
                                                   connects):
    server = misnamed_tls_server
    task_id = store_success(server.url(0))
    url = "rediss://127.0.0.1:%d/0?%s&ssl_ca_certs=%s" % (server.tls_port, query, server.ca_file)
    celery = celery_reads(url, task_id)
    assert (celery == "SUCCESS") == connects, celery
    run = Taskwatch(tw.binary, url).run(task_id, "--retry-for", "2s", subprocess_timeout=20)
    assert run.returncode == (0 if connects else 69), run.describe()
    if not connects:
        assert "does not name '127.0.0.1'" in run.stderr_text, run.stderr_text


USE_SSL_CASES = [
    # (redis_backend_use_ssl dict, taskwatch options, does Celery connect?)
    ({"ssl_cert_reqs": ssl.CERT_REQUIRED}, ["--tls-cert-reqs", "required"], False),
    ({"ssl_cert_reqs": ssl.CERT_REQUIRED, "ssl_check_hostname": False},
     ["--tls-cert-reqs", "required", "--tls-check-hostname", "false"], True),
    ({"ssl_cert_reqs": ssl.CERT_OPTIONAL, "ssl_check_hostname": False},
     ["--tls-cert-reqs", "CERT_OPTIONAL", "--tls-check-hostname", "false"], True),
    ({"ssl_cert_reqs": ssl.CERT_NONE}, ["--tls-cert-reqs", "none"], True),
]


@pytest.mark.parametrize("use_ssl,options,connects", USE_SSL_CASES)
def test_redis_backend_use_ssl_dict_with_a_redis_url(tw, misnamed_tls_server, use_ssl, options,
                                                     connects):
    """Celery's redis_backend_use_ssl dict with a plain redis:// URL turns TLS on;
    --tls-cert-reqs does the same, and ssl_ca_certs is --tls-ca."""
    server = misnamed_tls_server
    task_id = store_success(server.url(0))
    url = "redis://127.0.0.1:%d/0" % server.tls_port
    settings = dict(use_ssl, ssl_ca_certs=server.ca_file)
    celery = celery_reads(url, task_id, redis_backend_use_ssl=settings)
    assert (celery == "SUCCESS") == connects, celery
    run = Taskwatch(tw.binary, url).run(task_id, "--tls-ca", server.ca_file, "--retry-for", "2s",
                                        *options, subprocess_timeout=20)
    assert run.returncode == (0 if connects else 69), run.describe()
    if connects:
        assert run.states[-1]["meta"]["result"] == 42


def test_tls_options_without_tls_are_a_usage_error(tw, redis_server):
    run = Taskwatch(tw.binary, redis_server.url(0)).run(new_id(), "--tls-check-hostname", "false",
                                                        subprocess_timeout=10)
    assert run.returncode == 64, run.describe()
    assert "--tls-cert-reqs" in run.stderr_text
