/// Something the consumer noticed and carried on from, for the caller to report.
public enum ConsumerDiagnostic: Sendable, Equatable, CustomStringConvertible {
  /// A message on a task's channel could not be decoded; the stored key is re-read.
  case undecodableMessage(taskID: String, error: DecodeError)
  /// A message's `task_id` is not the task its channel belongs to; skipped.
  case mismatchedTaskID(taskID: String, payloadTaskID: String)
  /// A READY message had no stored key in our database to confirm it.
  case unconfirmedReadyMessage(taskID: String, database: Int)
  /// The link to Redis broke (or could not be made); the consumer is retrying.
  case connectionLost(RedisError, retryingFor: Double)
  /// The link is back: tasks were resubscribed and their stored results re-read.
  case reconnected(endpoint: String, afterSeconds: Double, resubscribed: Int)
  /// A task (or a group) has stayed PENDING with nothing stored for
  /// ``ConsumerConfiguration/pendingHintAfter``: a likely reason and its fix.
  case pendingHint(PendingHint)

  private static func seconds(_ value: Double) -> String {
    value < 10 ? "\((value * 10).rounded() / 10)s" : "\(Int(value.rounded()))s"
  }

  /// A one-line message for the user.
  public var description: String {
    switch self {
    case .undecodableMessage(let taskID, let error):
      return "skipped an undecodable message for task \(taskID) (\(error)); re-reading its stored result"
    case .mismatchedTaskID(let taskID, let payloadTaskID):
      return "skipped a message on task \(taskID)'s channel that carries task_id \(payloadTaskID)"
    case .unconfirmedReadyMessage(let taskID, let database):
      return "task \(taskID) was published as ready but has no stored result in database \(database): "
        + "the URL may name the wrong database (pub/sub ignores it); still waiting"
    case .connectionLost(let error, let budget):
      return "\(error); reconnecting (for up to \(Self.seconds(budget)))"
    case .reconnected(let endpoint, let seconds, let count):
      return "reconnected to \(endpoint) after \(Self.seconds(seconds)); resubscribed \(count) "
        + (count == 1 ? "task" : "tasks") + " and re-read their results"
    case .pendingHint(let hint):
      return hint.description
    }
  }
}
