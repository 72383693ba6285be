import TaskWatch

extension TaskState {
  /// How the human view and the summary show a task whose stored result can
  /// never be read (``StateChange/unreadable``): ready, outcome unknown. Not a
  /// Celery state; the library keeps the last state it read.
  static let unreadable = TaskState("UNREADABLE")
}

extension StateChange {
  /// The state as the human view shows it: ``TaskState/unreadable`` for an
  /// unreadable result, else the task's state.
  var shownState: TaskState { isUnreadable ? .unreadable : state }
}

extension TaskStatus {
  /// The state as the summary counts it: ``TaskState/unreadable`` for an
  /// unreadable result, else the task's last state.
  var shownState: TaskState { unreadable == nil ? state : .unreadable }
}
