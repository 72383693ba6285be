import Foundation
import TaskWatch

/// A throwaway `redis-server` on a free loopback port, in its own temp dir.
///
/// Tests never use 6379 and never touch a server they did not start: each
/// server is stopped by the PID this object recorded.
public final class RedisServer: @unchecked Sendable {
  /// The loopback port it listens on.
  public private(set) var port: Int
  /// Its working directory (dump files, logs).
  public let directory: URL
  private let extraArguments: [String]
  private var process: ChildProcess?

  /// The URL of database `database` on this server.
  public func url(database: Int = 0) -> String {
    "redis://127.0.0.1:\(port)/\(database)"
  }

  /// The endpoint, for ``RedisConnection``.
  public var endpoint: RedisEndpoint { .tcp(host: "127.0.0.1", port: port) }

  /// Starts a server with extra `redis-server` arguments (e.g. `["--requirepass", "s3cret"]`),
  /// on `port`, or else on a free port (see ``init(extraArguments:pickingPortsWith:)``).
  public convenience init(extraArguments: [String] = [], port: Int? = nil) throws {
    if let port {
      try self.init(extraArguments: extraArguments, pickingPortsWith: { port }, attempts: 1)
    } else {
      try self.init(extraArguments: extraArguments, pickingPortsWith: FreePort.pick)
    }
  }

  /// Starts a server on a port from `pickPort`, and again on another one
  /// while the port turns out to be taken, up to `attempts` times.
  ///
  /// ``FreePort`` frees the port it found before `redis-server` binds it, and
  /// meanwhile any outgoing connection may get it as its local port: then
  /// the server exits at start ("Address already in use").
  public init(
    extraArguments: [String] = [], pickingPortsWith pickPort: () throws -> Int, attempts: Int = 5
  ) throws {
    self.extraArguments = extraArguments
    port = try pickPort()
    directory = FileManager.default.temporaryDirectory.appendingPathComponent(
      "taskwatch-redis-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    for attempt in 1... {
      do {
        try start()
        return
      } catch {
        guard attempt < attempts, portWasTaken() else { throw error }
        try? FileManager.default.removeItem(at: logFile)
        port = try pickPort()
      }
    }
  }

  /// A handle on a server someone else started and stops (`scripts/test`):
  /// this object never starts or stops it.
  public init(adopting port: Int) throws {
    self.port = port
    extraArguments = []
    directory = FileManager.default.temporaryDirectory.appendingPathComponent("taskwatch-adopted-\(port)")
    try waitUntilReady(password: nil)
  }

  deinit {
    stop()
    try? FileManager.default.removeItem(at: directory)
  }

  /// The PID of the running server, if it runs.
  public var pid: Int32? { process?.pid }

  /// Starts (or restarts) the server process and waits until it answers PING.
  public func start(arguments override: [String]? = nil) throws {
    let arguments =
      [
        "--port", String(port), "--bind", "127.0.0.1", "--dir", directory.path,
        "--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", "redis.log",
      ] + (override ?? extraArguments)
    process = try ChildProcess(
      try Self.executable().path, arguments, captureOutput: false)
    try waitUntilReady(password: Self.password(in: override ?? extraArguments))
  }

  /// Stops the server with SIGTERM and waits for it to exit.
  public func stop() {
    guard let process else { return }
    process.signal(SIGTERM)
    if process.wait(seconds: 10) == nil {
      process.signal(SIGKILL)
      _ = process.wait(seconds: 5)
    }
    self.process = nil
  }

  /// Kills the server with SIGKILL (no shutdown, no save).
  public func crash() {
    guard let process else { return }
    process.signal(SIGKILL)
    _ = process.wait(seconds: 5)
    self.process = nil
  }

  /// A fresh command connection to database `database`.
  package func connection(database: Int = 0, password: String? = nil) throws -> RedisConnection {
    let connection = try RedisConnection(endpoint: endpoint, connectTimeout: 2)
    if let password { try connection.authenticate(username: nil, password: password, until: .after(seconds: 2)) }
    if database != 0 { try connection.select(database: database, until: .after(seconds: 2)) }
    return connection
  }

  /// Runs one command on a new connection and returns the reply.
  @discardableResult
  package func run(_ arguments: [String], database: Int = 0, password: String? = nil) throws -> RedisReply {
    try connection(database: database, password: password).command(arguments, until: .after(seconds: 5))
  }

  /// Stores and publishes a payload the way Celery's backend does (MULTI/SETEX/PUBLISH/EXEC).
  public func storeAndPublish(
    taskID: String, payload: [UInt8], keyPrefix: String = "celery-task-meta-", database: Int = 0,
    store: Bool = true
  ) throws {
    let connection = try connection(database: database)
    let key = Array((keyPrefix + taskID).utf8)
    connection.append(["MULTI"])
    if store { connection.append([Array("SETEX".utf8), key, Array("86400".utf8), payload]) }
    connection.append([Array("PUBLISH".utf8), key, payload])
    connection.append(["EXEC"])
    try connection.flush(until: .after(seconds: 5))
    _ = try connection.replies(count: store ? 4 : 3, until: .after(seconds: 5), operation: "EXEC")
  }

  /// Same, for a text payload.
  public func storeAndPublish(taskID: String, json: String, database: Int = 0, store: Bool = true) throws {
    try storeAndPublish(taskID: taskID, payload: Array(json.utf8), database: database, store: store)
  }

  /// How many subscribers the channel has (`PUBSUB NUMSUB`).
  public func subscriberCount(channel: String) throws -> Int64 {
    guard case .array(let parts) = try run(["PUBSUB", "NUMSUB", channel]), parts.count == 2,
      case .integer(let count) = parts[1]
    else { return -1 }
    return count
  }

  /// Waits until `channel` has `count` subscribers, or the deadline passes.
  public func waitForSubscribers(channel: String, count: Int64 = 1, seconds: Double = 10) throws -> Bool {
    let deadline = Deadline.after(seconds: seconds)
    while !deadline.hasPassed {
      if try subscriberCount(channel: channel) >= count { return true }
      usleep(5_000)
    }
    return false
  }

  /// The server's log (`--logfile`).
  private var logFile: URL { directory.appendingPathComponent("redis.log") }

  /// Whether the server's log says it could not bind its port.
  private func portWasTaken() -> Bool {
    guard let log = try? String(contentsOf: logFile, encoding: .utf8) else { return false }
    return log.contains("Address already in use")
  }

  private func waitUntilReady(password: String?) throws {
    let deadline = Deadline.after(seconds: 10)
    while !deadline.hasPassed {
      if let process, !process.isRunning { throw TestSupportError("redis-server exited at start (port \(port))") }
      if answers(password: password) { return }
      usleep(10_000)
    }
    throw TestSupportError("redis-server on port \(port) did not answer PING within 10 s")
  }

  /// Whether the server on ``port`` answers, and is the process started
  /// here (`INFO server` names its PID): another one may hold the port.
  /// Every step has a short deadline, as a socket that accepts and never
  /// answers may hold the port too.
  private func answers(password: String?) -> Bool {
    guard let connection = try? RedisConnection(endpoint: endpoint, connectTimeout: 0.5) else { return false }
    let deadline = Deadline.after(seconds: 0.5)
    if let password, (try? connection.authenticate(username: nil, password: password, until: deadline)) == nil {
      return false
    }
    guard let process else { return (try? connection.command(["PING"], until: deadline)) == .status("PONG") }
    guard let info = try? connection.command(["INFO", "server"], until: deadline).text else { return false }
    return info.contains("process_id:\(process.pid)\r\n")
  }

  private static func password(in arguments: [String]) -> String? {
    guard let index = arguments.firstIndex(of: "--requirepass"), index + 1 < arguments.count else { return nil }
    return arguments[index + 1]
  }

  private static func executable() throws -> URL {
    for directory in ["/usr/bin", "/usr/local/bin", "/usr/sbin"] {
      let url = URL(fileURLWithPath: directory).appendingPathComponent("redis-server")
      if FileManager.default.isExecutableFile(atPath: url.path) { return url }
    }
    throw TestSupportError("redis-server is not installed (run scripts/setup)")
  }
}

/// The server shared by tests that need no special configuration: the one
/// `scripts/test` started (`TASKWATCH_TEST_REDIS_PORT`), or else one started
/// here for this test process.
public enum SharedRedis {
  /// The shared server.
  public static let server: RedisServer = {
    if let text = ProcessInfo.processInfo.environment["TASKWATCH_TEST_REDIS_PORT"], let port = Int(text) {
      return ExternalServerHandle.adopt(port: port)
    }
    do {
      let server = try RedisServer()
      ExternalServerHandle.stopAtExit(server)
      return server
    } catch {
      fatalError("cannot start a test redis-server: \(error)")
    }
  }()
}

/// An error from the test harness itself.
public struct TestSupportError: Error, CustomStringConvertible {
  /// What went wrong.
  public let description: String
  /// Creates the error.
  public init(_ description: String) { self.description = description }
}
