import Foundation

/// A task's stored meta as Celery's Redis backend writes it (JSON), for tests
/// that store or publish one by hand.
///
/// - Parameters:
///   - id: the task id (`task_id`).
///   - state: the `status`.
///   - result: the `result`, as JSON text.
///   - children: ids of child tasks, each written as Celery writes an
///     `AsyncResult` tuple (`[["<id>", null], null]`).
///   - extra: more members, as JSON text starting with `, ` (e.g. `, "name": "add"`).
public func celeryMeta(
  _ id: String, _ state: String, result: String = "null", children: [String] = [], extra: String = ""
) -> String {
  let tuples = children.map { #"[["\#($0)", null], null]"# }.joined(separator: ", ")
  return #"{"status": "\#(state)", "result": \#(result), "traceback": null, "children": [\#(tuples)], "#
    + #""date_done": null, "task_id": "\#(id)"\#(extra)}"#
}

/// A new task id in Celery's form (a lowercase UUID).
public func newTaskID() -> String { UUID().uuidString.lowercased() }
