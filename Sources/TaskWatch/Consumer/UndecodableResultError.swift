/// A stored result that can never be read: the run cannot finish for this task.
public struct UndecodableResultError: Error, Sendable, Equatable, CustomStringConvertible {
  /// The task whose stored result is unreadable.
  public let taskID: String
  /// Why it could not be decoded.
  public let reason: DecodeError

  /// Creates the error.
  public init(taskID: String, reason: DecodeError) {
    self.taskID = taskID
    self.reason = reason
  }

  /// A one-line message for the user.
  public var description: String {
    "cannot read the stored result of task \(taskID): \(reason)"
  }
}
