/// A workflow tree grew past ``ConsumerConfiguration/maximumTreeSize`` while
/// its children were followed: the consumer stops rather than grow without bound.
public struct WorkflowTooLargeError: Error, Sendable, Equatable, CustomStringConvertible {
  /// The given task at the top of the tree.
  public let rootID: String
  /// The bound that was exceeded.
  public let limit: Int

  /// Creates the error.
  public init(rootID: String, limit: Int) {
    self.rootID = rootID
    self.limit = limit
  }

  /// A one-line message for the user.
  public var description: String {
    "the workflow of task \(rootID) has more than \(limit) tasks, the limit for one followed tree"
  }
}
