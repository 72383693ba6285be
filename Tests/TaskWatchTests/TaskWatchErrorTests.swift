import Testing

@testable import CeleryPayload
@testable import RedisWire
@testable import TaskWatch

@Suite("TaskWatchError: one code per kind of failure, the cause kept")
struct TaskWatchErrorTests {
  private static let lost = RedisError.connectionLost(endpoint: "127.0.0.1:1", reason: "EOF")

  @Test(
    "each error of the consumer layer gets the code the CLI's exit status gives it",
    arguments: [
      (Self.lost as any Error & Sendable, TaskWatchError.Code.unavailable),
      (RedisError.authenticationFailed(endpoint: "h:1", message: "WRONGPASS"), .authenticationRefused),
      (RedisError.insecure(endpoint: "h:1", reason: "untrusted"), .unavailable),
      (ConsumerError.unavailable(endpoint: "h:1", seconds: 30, lastError: Self.lost), .unavailable),
      (ConsumerError.deadlinePassed, .timedOut),
      (ConsumerError.interrupted, .cancelled),
      (UndecodableResultError(taskID: "t", reason: .unsupportedSerializer("pickle")), .unreadableResult),
      (DecodeError.invalidJSON("x"), .unreadableResult),
      (TLSSetupError(file: "/ca.pem", reason: "missing"), .invalidConfiguration),
      (TLSSetupError(file: nil, reason: "no libssl", isLibraryMissing: true), .unavailable),
      (BackendURLError.unknownScheme("http"), .invalidConfiguration),
      (UnknownMasterError(masterName: "m", sentinels: ["h:26379"]), .invalidConfiguration),
    ])
  func codes(error: any Error & Sendable, code: TaskWatchError.Code) {
    let wrapped = TaskWatchError(wrapping: error)
    #expect(wrapped.code == code)
    if code != .cancelled {
      #expect(wrapped.description == String(describing: error))
      #expect(wrapped.underlyingError.map { String(describing: $0) } == String(describing: error))
    }
  }

  @Test("an unreadable result names its task; a TaskWatchError is not wrapped twice")
  func taskAndIdentity() {
    let error = TaskWatchError(wrapping: UndecodableResultError(taskID: "t1", reason: .invalidJSON("x")))
    #expect(error.taskID == "t1")
    #expect(TaskWatchError(wrapping: error).underlyingError is UndecodableResultError)
  }

  @Test("codes can be switched on, and print their names")
  func switching() {
    func describe(_ code: TaskWatchError.Code) -> String {
      switch code {
      case .timedOut: return "later"
      case .cancelled: return "gone"
      default: return code.description
      }
    }
    #expect(
      [.timedOut, .cancelled, .authenticationRefused].map(describe) == ["later", "gone", "authenticationRefused"])
  }
}
