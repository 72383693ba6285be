/// How Celery names result keys and channels.
///
/// A task's result lives under `celery-task-meta-<id>` and is published on a
/// channel of the same name; a saved group under `celery-taskset-meta-<id>`.
/// Celery's `global_keyprefix` transport option is prepended to both; since
/// Celery 5.5 an `_` is inserted unless the prefix already ends in one of
/// `:`, `_`, `-` or `.` (Celery 5.3–5.4 always inserted `_`: users of those
/// versions pass the whole prefix with `keyPrefix`).
public struct KeyNaming: Sendable, Equatable {
  /// The full prefix of task result keys and channels.
  public let taskKeyPrefix: String
  /// The full prefix of saved group keys.
  public let groupKeyPrefix: String

  /// Celery's default task key prefix.
  public static let defaultTaskKeyPrefix = "celery-task-meta-"
  /// Celery's default group key prefix.
  public static let defaultGroupKeyPrefix = "celery-taskset-meta-"

  /// Builds the naming from `--key-prefix` and `--global-keyprefix`.
  public init(keyPrefix: String = KeyNaming.defaultTaskKeyPrefix, globalKeyPrefix: String? = nil) {
    let global = Self.normalizedGlobalPrefix(globalKeyPrefix)
    taskKeyPrefix = global + keyPrefix
    groupKeyPrefix = global + Self.defaultGroupKeyPrefix
  }

  /// Celery ≥ 5.5's rule: append `_` unless the prefix ends in `:`, `_`, `-` or `.`.
  public static func normalizedGlobalPrefix(_ prefix: String?) -> String {
    guard let prefix, let last = prefix.last else { return "" }
    return ":_-.".contains(last) ? prefix : prefix + "_"
  }

  /// The key (and channel) of a task's result.
  public func key(forTask taskID: String) -> String {
    taskKeyPrefix + taskID
  }

  /// The key (and channel) of a saved group.
  public func key(forGroup groupID: String) -> String {
    groupKeyPrefix + groupID
  }
}
