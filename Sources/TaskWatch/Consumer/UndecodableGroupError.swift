/// A saved group whose payload cannot be read, so its tasks cannot be known.
public struct UndecodableGroupError: Error, Sendable, Equatable, CustomStringConvertible {
  /// The group whose payload is unreadable.
  public let groupID: String
  /// Why it could not be decoded.
  public let reason: DecodeError

  /// Creates the error.
  public init(groupID: String, reason: DecodeError) {
    self.groupID = groupID
    self.reason = reason
  }

  /// A one-line message for the user.
  public var description: String {
    "cannot read saved group \(groupID): \(reason)"
  }
}
