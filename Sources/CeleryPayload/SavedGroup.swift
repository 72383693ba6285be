/// A group as `GroupResult.save()` stores (and publishes) it under
/// `celery-taskset-meta-<id>`: `{"result": [[id, parent], [child, …]]}`.
///
/// A child is `[[id, parent], null]` for a task and `[[id, parent], [child, …]]`
/// for a nested group, whose children are inline; `parent` is a result tuple
/// or `null` and is not a child. Celery's `result_from_tuple` also accepts a
/// bare id in place of `[id, parent]`, and so does this type.
package struct SavedGroup: Sendable, Equatable {
  /// The group's own id, as stored.
  package let groupID: String
  /// The ids of the group's tasks, nested groups expanded depth-first, in
  /// stored order, each once.
  package let taskIDs: [String]

  /// Decodes a stored or published group payload, in any serializer and
  /// compression ``TaskMeta/decode(_:)`` accepts.
  /// - Throws: ``DecodeError``; ``DecodeError/notGroupMeta(_:)`` when the
  ///   payload is readable but not a saved group.
  package static func decode(_ payload: [UInt8]) throws(DecodeError) -> SavedGroup {
    let tree = try JSONTree.parse(try TaskMeta.jsonBytes(of: payload))
    guard let result = tree["result"] else { throw .notGroupMeta("no 'result' field") }
    guard case .array(let tuple) = result, tuple.count == 2, case .array(let children) = tuple[1] else {
      throw .notGroupMeta("'result' is not [[group id, parent], [children]]")
    }
    var taskIDs = [String]()
    var seen = Set<String>()
    try collect(children, into: &taskIDs, seen: &seen)
    return SavedGroup(groupID: try identifier(of: tuple[0]), taskIDs: taskIDs)
  }

  private static func collect(
    _ children: [JSONTree], into taskIDs: inout [String], seen: inout Set<String>
  ) throws(DecodeError) {
    for child in children {
      guard case .array(let tuple) = child, tuple.count == 2 else {
        throw .notGroupMeta("a child is not [[id, parent], null] or [[id, parent], [children]]")
      }
      switch tuple[1] {
      case .null:
        let id = try identifier(of: tuple[0])
        if seen.insert(id).inserted { taskIDs.append(id) }
      case .array(let nested):
        try collect(nested, into: &taskIDs, seen: &seen)
      default:
        throw .notGroupMeta("a child's second element is neither null nor a list of children")
      }
    }
  }

  /// The id in `[id, parent]`, or a bare id.
  private static func identifier(of node: JSONTree) throws(DecodeError) -> String {
    switch node {
    case .string(let id) where !id.isEmpty:
      return id
    case .array(let pair):
      if let first = pair.first, case .string(let id) = first, !id.isEmpty { return id }
    default:
      break
    }
    throw .notGroupMeta("a result tuple has no id")
  }
}
