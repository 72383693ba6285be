import Foundation
import TaskWatch

/// A throwaway Redis Sentinel setup on free loopback ports: one master, one
/// replica, and three `redis-sentinel` processes monitoring the master as
/// ``masterName`` (quorum 2, `down-after-milliseconds 1000`,
/// `failover-timeout 5000`).
///
/// Each sentinel gets its own config file in a temp dir (sentinels rewrite
/// their config). Every process is started here and stopped by its PID.
///
/// With `tls`, the deployment is TLS-only as seen from a client: master and
/// replica also listen on TLS ports and replicate over TLS, the sentinels
/// listen on TLS only and monitor the master's TLS port, so the addresses they
/// give are TLS ports. (Master and replica keep their plain ports for the
/// test's own commands.)
public final class SentinelCluster: @unchecked Sendable {
  /// The name the sentinels monitor the master under.
  public let masterName = "mymaster"
  /// The server that is master at start.
  public let master: RedisServer
  /// The server that replicates it at start.
  public let replica: RedisServer
  /// The sentinels' loopback ports.
  public let sentinelPorts: [Int]
  /// The CA file a client trusts, when the cluster uses TLS.
  public let caFile: String?
  private let tlsContext: TLSClientContext?
  private let masterAnnouncedPort: Int
  private let directory: URL
  private var sentinels: [ChildProcess?]

  /// Starts master, replica and three sentinels, and waits until every
  /// sentinel names the master and knows the replica.
  public init(tls: Bool = false) throws {
    let certificates = tls ? TLSCertificates.shared : nil
    let tlsPorts = tls ? try (0..<2).map { _ in try FreePort.pick() } : []
    func tlsArguments(_ index: Int) -> [String] {
      guard let certificates else { return [] }
      return [
        "--tls-port", String(tlsPorts[index]), "--tls-cert-file", certificates.serverCertificate,
        "--tls-key-file", certificates.serverKey, "--tls-ca-cert-file", certificates.caFile,
        "--tls-auth-clients", "no", "--tls-replication", "yes",
      ]
    }
    master = try RedisServer(extraArguments: tlsArguments(0))
    masterAnnouncedPort = tls ? tlsPorts[0] : master.port
    replica = try RedisServer(
      extraArguments: tlsArguments(1) + ["--replicaof", "127.0.0.1", String(masterAnnouncedPort)])
    caFile = certificates?.caFile
    tlsContext = try certificates.map {
      try TLSClientContext.shared(for: TLSSettings(certificateRequirement: .required, caFile: $0.caFile))
    }
    directory = FileManager.default.temporaryDirectory.appendingPathComponent(
      "taskwatch-sentinel-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    sentinelPorts = try (0..<3).map { _ in try FreePort.pick() }
    sentinels = []
    for (index, port) in sentinelPorts.enumerated() {
      let config = directory.appendingPathComponent("sentinel-\(index).conf")
      let listen =
        certificates.map {
          """
          port 0
          tls-port \(port)
          tls-cert-file \($0.serverCertificate)
          tls-key-file \($0.serverKey)
          tls-ca-cert-file \($0.caFile)
          tls-auth-clients no
          tls-replication yes
          """
        } ?? "port \(port)"
      let text = """
        \(listen)
        bind 127.0.0.1
        daemonize no
        dir \(directory.path)
        logfile sentinel-\(index).log
        sentinel monitor \(masterName) 127.0.0.1 \(masterAnnouncedPort) 2
        sentinel down-after-milliseconds \(masterName) 1000
        sentinel failover-timeout \(masterName) 5000
        sentinel parallel-syncs \(masterName) 1

        """
      try text.write(to: config, atomically: true, encoding: .utf8)
      sentinels.append(try ChildProcess(try Self.executable(), [config.path], captureOutput: false))
    }
    try waitUntilReady()
  }

  deinit {
    stopSentinels()
    try? FileManager.default.removeItem(at: directory)
  }

  /// Celery's URL for these sentinels, e.g.
  /// `sentinel://127.0.0.1:1;sentinel://127.0.0.1:2;sentinel://127.0.0.1:3`.
  public func url(database: Int = 0) -> String {
    let list = sentinelPorts.map { "sentinel://127.0.0.1:\($0)/\(database)" }.joined(separator: ";")
    return list + (caFile.map { "?ssl_cert_reqs=required&ssl_ca_certs=\($0)" } ?? "")
  }

  /// Runs one command on sentinel `index`.
  @discardableResult
  package func runOnSentinel(_ index: Int, _ arguments: [String]) throws -> RedisReply {
    let connection = try RedisConnection(
      endpoint: .tcp(host: "127.0.0.1", port: sentinelPorts[index]), tls: tlsContext, connectTimeout: 2)
    return try connection.command(arguments, until: .after(seconds: 5))
  }

  /// Asks sentinel 0 for a failover (`SENTINEL FAILOVER`), retrying while it
  /// has no replica it considers good yet, then waits until the replica says
  /// it is master.
  ///
  /// The promotion ends with the sentinel's `CLIENT KILL TYPE normal` on the
  /// replica, which can close a `ROLE` connection before it is answered: a
  /// lost connection there means "ask again", not a failure.
  /// - Throws: when the replica is not promoted within `seconds`.
  public func failOver(seconds: Double = 20) throws {
    let deadline = Deadline.after(seconds: seconds)
    while true {
      let reply = try runOnSentinel(0, ["SENTINEL", "FAILOVER", masterName])
      if reply == .status("OK") { break }
      if deadline.hasPassed { throw TestSupportError("SENTINEL FAILOVER kept failing: \(reply)") }
      usleep(100_000)
    }
    while (try? role(of: replica)) != "master" {
      if deadline.hasPassed { throw TestSupportError("the replica was not promoted within \(seconds) s") }
      usleep(50_000)
    }
  }

  /// What `ROLE` says a server is: `master` or `slave`.
  public func role(of server: RedisServer) throws -> String? {
    guard case .array(let parts) = try server.run(["ROLE"]) else { return nil }
    return parts.first?.text
  }

  /// Stops every sentinel (SIGTERM, then SIGKILL) and waits for each to exit.
  public func stopSentinels() {
    for process in sentinels.compactMap({ $0 }) {
      process.signal(SIGTERM)
      if process.wait(seconds: 10) == nil {
        process.signal(SIGKILL)
        _ = process.wait(seconds: 5)
      }
    }
    sentinels = sentinels.map { _ in nil }
  }

  private func waitUntilReady() throws {
    let deadline = Deadline.after(seconds: 15)
    let expected = RedisReply.array([
      .bulk(Array("127.0.0.1".utf8)), .bulk(Array(String(masterAnnouncedPort).utf8)),
    ])
    for index in sentinelPorts.indices {
      while true {
        let address = try? runOnSentinel(index, ["SENTINEL", "get-master-addr-by-name", masterName])
        let replicas = try? runOnSentinel(index, ["SENTINEL", "replicas", masterName])
        if address == expected, case .array(let known) = replicas, !known.isEmpty { break }
        if deadline.hasPassed {
          throw TestSupportError(
            "sentinel on port \(sentinelPorts[index]) not ready within 15 s (see \(directory.path))")
        }
        usleep(50_000)
      }
    }
  }

  private static func executable() throws -> String {
    for directory in ["/usr/bin", "/usr/local/bin", "/usr/sbin"] {
      let path = directory + "/redis-sentinel"
      if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    throw TestSupportError("redis-sentinel is not installed (run scripts/setup)")
  }
}
