import Foundation
import TaskWatch
import TestSupport
import Testing

/// `rediss://` against a real `redis-server --tls-port`, with certificates
/// made by the `openssl` CLI at test time.
@Suite("TLS", .serialized)
struct TLSTests {
  private let certificates = TLSCertificates.shared

  private var trusted: String {
    "ssl_cert_reqs=required&ssl_ca_certs=" + certificates.caFile
  }

  @Test("required + the CA: a task is watched to SUCCESS over TLS")
  func watchOverTLS() throws {
    let redis = try TLSRedisServer()
    let id = newTaskID()
    let process = try TaskwatchProcess(["-u", redis.url(trusted), id])
    #expect(try redis.server.waitForSubscribers(channel: "celery-task-meta-\(id)"))
    #expect(process.waitForLines(1, seconds: 10), "the PENDING snapshot comes first")
    try redis.server.storeAndPublish(taskID: id, json: celeryMeta(id, "STARTED"))
    try redis.server.storeAndPublish(taskID: id, json: celeryMeta(id, "SUCCESS"))
    let result = try process.finish(seconds: 15)
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.states(of: id) == ["PENDING", "STARTED", "SUCCESS"])
    #expect(result.stderr.isEmpty)
  }

  @Test("localhost is checked against the certificate's DNS name; --tls-ca and TASKWATCH_TLS_CA give the CA")
  func hostNameAndCAOptions() throws {
    let redis = try TLSRedisServer()
    let id = newTaskID()
    try redis.server.storeAndPublish(taskID: id, json: celeryMeta(id, "SUCCESS"))
    let flag = try TaskwatchProcess.run(
      [
        "-u", redis.url(host: "localhost", "ssl_cert_reqs=CERT_REQUIRED"), "--tls-ca", certificates.caFile, "--once",
        id,
      ])
    #expect(flag.status == 0, "\(flag.stderr)")
    let variable = try TaskwatchProcess.run(
      ["-u", redis.url("ssl_cert_reqs=required"), "--once", id],
      environment: ["TASKWATCH_TLS_CA": certificates.caFile])
    #expect(variable.status == 0, "\(variable.stderr)")
    #expect(variable.states(of: id) == ["SUCCESS"])
  }

  @Test("required with a CA that did not sign the server's certificate → 69, naming the certificate")
  func untrustedCertificate() throws {
    let redis = try TLSRedisServer()
    let started = Date()
    let result = try TaskwatchProcess.run(
      ["-u", redis.url("ssl_cert_reqs=required&ssl_ca_certs=" + certificates.otherCAFile), "--once", "x"])
    #expect(result.status == 69)
    #expect(Date().timeIntervalSince(started) < 5, "a certificate that is not trusted is not retried")
    #expect(
      result.stderr.hasPrefix(
        "taskwatch: cannot connect securely to 127.0.0.1:\(redis.tlsPort): the server's certificate is not trusted"))
    #expect(result.stderr.contains("certificate subject: CN=localhost"))
    #expect(result.stderr.split(separator: "\n").count == 1)
  }

  @Test("a certificate for another host → 69 with required and optional (redis-py 8.1); unless the name check is off")
  func hostnameMismatch() throws {
    let redis = try TLSRedisServer(
      certificate: certificates.wrongNameCertificate, key: certificates.wrongNameKey)
    let id = newTaskID()
    try redis.server.storeAndPublish(taskID: id, json: celeryMeta(id, "SUCCESS"))
    let required = try TaskwatchProcess.run(["-u", redis.url(trusted), "--once", id])
    #expect(required.status == 69)
    #expect(required.stderr.contains("the server's certificate does not name '127.0.0.1'"))
    #expect(required.stderr.contains("CN=elsewhere.example"))
    let optional = try TaskwatchProcess.run(
      ["-u", redis.url("ssl_cert_reqs=optional&ssl_ca_certs=" + certificates.caFile), "--once", id])
    #expect(optional.status == 69, "\(optional.stderr)")
    #expect(optional.stderr.contains("the server's certificate does not name '127.0.0.1'"))
    let unchecked = try TaskwatchProcess.run(
      [
        "-u", redis.url("ssl_cert_reqs=optional&ssl_check_hostname=false&ssl_ca_certs=" + certificates.caFile),
        "--once", id,
      ])
    #expect(unchecked.status == 0, "\(unchecked.stderr)")
    let flag = try TaskwatchProcess.run(["-u", redis.url(trusted), "--tls-check-hostname", "false", "--once", id])
    #expect(flag.status == 0, "\(flag.stderr)")
    let untrustedOptional = try TaskwatchProcess.run(
      [
        "-u", redis.url("ssl_cert_reqs=optional&ssl_check_hostname=false&ssl_ca_certs=" + certificates.otherCAFile),
        "--once", id,
      ])
    #expect(untrustedOptional.status == 69, "the chain is still checked")
  }

  @Test("ssl_cert_reqs=none connects to a server no CA here vouches for")
  func noVerification() throws {
    let redis = try TLSRedisServer()
    let id = newTaskID()
    try redis.server.storeAndPublish(taskID: id, json: celeryMeta(id, "FAILURE", result: #"{"exc_type": "E"}"#))
    let result = try TaskwatchProcess.run(["-u", redis.url("ssl_cert_reqs=none"), "--once", id])
    #expect(result.status == 1, "\(result.stderr)")
    #expect(result.states(of: id) == ["FAILURE"])
  }

  @Test("mutual TLS: no client certificate → 69 with a hint; --tls-cert/--tls-key or the URL's files → watched")
  func mutualTLS() throws {
    let redis = try TLSRedisServer(requireClientCertificates: true)
    let id = newTaskID()
    try redis.server.storeAndPublish(taskID: id, json: celeryMeta(id, "SUCCESS"))
    let without = try TaskwatchProcess.run(["-u", redis.url(trusted), "--once", id])
    #expect(without.status == 69)
    #expect(without.stderr.contains("--tls-cert"), "\(without.stderr)")
    let flags = try TaskwatchProcess.run([
      "-u", redis.url(trusted), "--tls-cert", certificates.clientCertificate, "--tls-key", certificates.clientKey,
      "--once", id,
    ])
    #expect(flags.status == 0, "\(flags.stderr)")
    let query =
      trusted + "&ssl_certfile=" + certificates.clientCertificate + "&ssl_keyfile=" + certificates.clientKey
    let watched = try TaskwatchProcess(["-u", redis.url(query), "--summary", id, "late"])
    #expect(try redis.server.waitForSubscribers(channel: "celery-task-meta-late"))
    #expect(watched.waitForLines(2, seconds: 10), "both snapshot lines come first")
    try redis.server.storeAndPublish(taskID: "late", json: celeryMeta("late", "SUCCESS"))
    let result = try watched.finish(seconds: 15)
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.states(of: "late") == ["PENDING", "SUCCESS"])
  }

  @Test("CLIENT KILL of the TLS subscriber → reconnected over TLS, the result stored meanwhile is reported")
  func reconnectOverTLS() throws {
    let redis = try TLSRedisServer()
    let id = newTaskID()
    let process = try TaskwatchProcess(["-u", redis.url(trusted), "--health-interval", "1s", id])
    #expect(try redis.server.waitForSubscribers(channel: "celery-task-meta-\(id)"))
    #expect(process.waitForLines(1, seconds: 10))
    try redis.server.run(["CLIENT", "KILL", "TYPE", "pubsub"])
    try redis.server.storeAndPublish(taskID: id, json: celeryMeta(id, "SUCCESS"))
    let result = try process.finish(seconds: 15)
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.states(of: id) == ["PENDING", "SUCCESS"])
    #expect(result.stderr.contains("reconnected to 127.0.0.1:\(redis.tlsPort)"))
  }

  @Test("blackholed TLS link: the health check's PING over TLS finds it dead; the resync over TLS reports SUCCESS")
  func healthCheckOverTLS() throws {
    let redis = try TLSRedisServer()
    let proxy = try FaultProxy(upstreamPort: redis.tlsPort)
    let id = newTaskID()
    let url = "rediss://127.0.0.1:\(proxy.port)/0?" + trusted
    let process = try TaskwatchProcess(["-u", url, "--health-interval", "1s", id])
    #expect(try redis.server.waitForSubscribers(channel: "celery-task-meta-\(id)"))
    #expect(process.waitForLines(1, seconds: 10))
    proxy.setMode(.blackhole)
    try redis.server.storeAndPublish(taskID: id, json: celeryMeta(id, "SUCCESS"))
    usleep(1_500_000)
    proxy.setMode(.forward)
    let result = try process.finish(seconds: 15)
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.states(of: id) == ["PENDING", "SUCCESS"])
    #expect(result.stderr.contains("no reply to PING within 2.0s"))
  }

  @Test("--all over TLS: the pattern subscription and the confirming MGET both run on rediss://")
  func allTasksOverTLS() throws {
    let redis = try TLSRedisServer()
    let process = try TaskwatchProcess(["-u", redis.url(trusted), "--all", "--count", "1"])
    let deadline = Deadline.after(seconds: 10)
    var subscribed = false
    while !deadline.hasPassed && !subscribed {
      // This server is the test's own: any pattern on it is taskwatch's.
      subscribed = try redis.server.run(["PUBSUB", "NUMPAT"]) == .integer(1)
      if !subscribed { usleep(10_000) }
    }
    #expect(subscribed, "taskwatch --all made its PSUBSCRIBE")
    let id = newTaskID()
    try redis.server.storeAndPublish(taskID: id, json: celeryMeta(id, "SUCCESS"))
    let result = try process.finish(seconds: 15)
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.states(of: id) == ["SUCCESS"])
  }

  @Test("a 1 MB result arrives whole over TLS, by message and by snapshot")
  func largePayload() throws {
    let redis = try TLSRedisServer()
    let big = "\"" + String(repeating: "x", count: 1 << 20) + "\""
    let id = newTaskID()
    let process = try TaskwatchProcess(["-u", redis.url(trusted), id])
    #expect(try redis.server.waitForSubscribers(channel: "celery-task-meta-\(id)"))
    try redis.server.storeAndPublish(taskID: id, json: celeryMeta(id, "SUCCESS", result: big))
    let result = try process.finish(seconds: 20)
    #expect(result.status == 0, "\(result.stderr)")
    let meta = result.objects.last?["meta"] as? [String: Any]
    #expect((meta?["result"] as? String)?.count == 1 << 20)
    let snapshot = try TaskwatchProcess.run(["-u", redis.url(trusted), "--once", id])
    #expect(snapshot.status == 0)
    #expect(((snapshot.objects.last?["meta"] as? [String: Any])?["result"] as? String)?.count == 1 << 20)
  }

  @Test("the wrong port for the scheme: each way round is found at the first attempt, 69 at once with the fix")
  func schemeAndPortMismatch() throws {
    let redis = try TLSRedisServer()
    // No --once and no short --retry-for: the run must end by itself, without waiting out the 30 s budget.
    var started = Date()
    let plainToTLS = try TaskwatchProcess.run(["-u", "redis://127.0.0.1:\(redis.tlsPort)/0", "x"])
    #expect(plainToTLS.status == 69)
    #expect(Date().timeIntervalSince(started) < 3, "redis:// on a TLS port took \(Date().timeIntervalSince(started)) s")
    #expect(plainToTLS.stderr.contains("this port speaks TLS: use a rediss:// URL"), "\(plainToTLS.stderr)")
    #expect(plainToTLS.stderr.split(separator: "\n").count == 1, "\(plainToTLS.stderr)")
    started = Date()
    let tlsToPlain = try TaskwatchProcess.run([
      "-u", "rediss://127.0.0.1:\(redis.server.port)/0?ssl_cert_reqs=none", "--connect-timeout", "1s", "x",
    ])
    #expect(tlsToPlain.status == 69)
    #expect(
      Date().timeIntervalSince(started) < 3.5, "rediss:// on a plain port took \(Date().timeIntervalSince(started)) s")
    #expect(tlsToPlain.stderr.contains("this is a plain redis:// port"), "\(tlsToPlain.stderr)")
    #expect(tlsToPlain.stderr.split(separator: "\n").count == 1, "\(tlsToPlain.stderr)")
  }

  @Test("--timeout bounds the TLS handshake: rediss:// on a plain port with --timeout 1s ends within 2 s")
  func timeoutBoundsHandshake() throws {
    let redis = try TLSRedisServer()
    let started = Date()
    let result = try TaskwatchProcess.run([
      "-u", "rediss://127.0.0.1:\(redis.server.port)/0?ssl_cert_reqs=none", "--timeout", "1s", "x",
    ])
    let elapsed = Date().timeIntervalSince(started)
    #expect(result.status == 69, "\(result.stderr)")
    #expect(elapsed < 2, "the default 5 s connect timeout was not cut to --timeout: \(elapsed) s")
  }

  @Test("TLS configuration errors are usage errors (64), before connecting")
  func configurationErrors() throws {
    let cases: [([String], String)] = [
      (["-u", "rediss://127.0.0.1:1/0"], "a TLS URL needs ssl_cert_reqs"),
      (["-u", "rediss://127.0.0.1:1/0?ssl_cert_reqs=maybe"], "invalid ssl_cert_reqs 'maybe'"),
      (["-u", "redis://127.0.0.1:1/0?ssl_cert_reqs=none"], "ssl_cert_reqs needs a rediss:// URL"),
      (["-u", "redis://127.0.0.1:1/0", "--tls-ca", certificates.caFile], "--tls-ca needs a TLS URL"),
      (["-u", "rediss://127.0.0.1:1/0?ssl_cert_reqs=required", "--tls-ca", "/nonexistent/ca.pem"], "no such file"),
      (
        ["-u", "rediss://127.0.0.1:1/0?ssl_cert_reqs=required", "--tls-ca", certificates.serverKey],
        "no CA certificate"
      ),
      (
        [
          "-u", "rediss://127.0.0.1:1/0?ssl_cert_reqs=required", "--tls-cert", certificates.clientCertificate,
          "--tls-key", certificates.serverKey,
        ], "the key does not belong"
      ),
    ]
    for (arguments, message) in cases {
      let result = try TaskwatchProcess.run(arguments + ["x"])
      #expect(result.status == 64, "\(arguments)")
      #expect(result.stderr.hasPrefix("taskwatch: "), "\(arguments)")
      #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
    }
  }
}
