/// A result payload as it reached the consumer, before it is applied.
public struct ResultMessage: Sendable, Equatable {
  /// The task the payload belongs to (from the channel or key name).
  public let taskID: String
  /// The raw payload bytes, as Celery wrote them.
  public let payload: [UInt8]
  /// How the payload was obtained.
  public let source: StateChange.Source

  /// Creates a message value.
  public init(taskID: String, payload: [UInt8], source: StateChange.Source) {
    self.taskID = taskID
    self.payload = payload
    self.source = source
  }

  /// A digest of the payload, so repeats are found without keeping payloads.
  var digest: Int {
    Self.digest(of: payload)
  }

  /// The payload's ``FastHash`` (its length is mixed in), never 0: 0 is
  /// reserved for "no payload".
  static func digest(of payload: [UInt8]) -> Int {
    let value = Int(truncatingIfNeeded: payload.withUnsafeBytes { FastHash.hash($0) })
    return value == 0 ? 1 : value
  }
}
