import Foundation

/// Bookkeeping for the shared server's lifetime.
enum ExternalServerHandle {
  nonisolated(unsafe) private static var pidToStop: Int32 = 0

  /// A handle on a server someone else started and will stop (`scripts/test`).
  static func adopt(port: Int) -> RedisServer {
    // The port is in use by the adopted server; RedisServer only checks PING there.
    do {
      return try RedisServer(adopting: port)
    } catch {
      fatalError("TASKWATCH_TEST_REDIS_PORT=\(port): \(error)")
    }
  }

  /// Stops `server` when the test process exits.
  static func stopAtExit(_ server: RedisServer) {
    pidToStop = server.pid ?? 0
    atexit {
      if ExternalServerHandle.pidToStop > 0 { kill(ExternalServerHandle.pidToStop, SIGTERM) }
    }
  }
}
