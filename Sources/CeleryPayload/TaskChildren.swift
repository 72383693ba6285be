/// The tasks a task started, as Celery lists them in its meta's `children`
/// field (what `AsyncResult.children` and `collect()` read back).
///
/// A worker stores `[r.as_tuple() for r in request.children]` there: every
/// result the task sent while it ran (`.delay()`, `apply_async`, a chain's
/// next step, a group or chord header built inside it, a replacement). Each
/// entry is a result tuple:
/// - `[[id, parent], null]`: a task; `parent` is `null` or the tuple of the
///   result before it (a chain's earlier step), which is read too;
/// - `[[gid, parent], [child, …]]`: a group (a chord's header too); its
///   children are inline, nested groups included, and the group's own id is
///   not a task;
/// - a bare id in place of `[id, parent]`, as Celery's `result_from_tuple`
///   accepts.
///
/// Celery 5.7 never stores a chord's body there (the last header task sends
/// it after its own result was stored), and `self.replace` gives the
/// replacement the replaced task's own id, so both are seen through the ids
/// they share: the header tasks, and the replaced id, which becomes ready
/// only when its replacement is.
///
/// Entries of any other shape are skipped: they name no task Celery could
/// read back either.
public enum TaskChildren {
  /// The ids of the tasks `meta` lists as its children, depth-first in stored
  /// order, each once; empty when it lists none.
  public static func ids(in meta: TaskMeta) -> [String] {
    ids(inJSON: meta.json)
  }

  /// The ids listed in the `children` of a meta given as strict JSON
  /// (``TaskMeta/json``). Metas whose `children` is absent or `[]` (most of
  /// them) are recognised without being parsed.
  static func ids(inJSON json: [UInt8]) -> [String] {
    guard mayListChildren(json), let tree = try? JSONTree.parse(json),
      case .array(let entries)? = tree["children"]
    else { return [] }
    var collector = Collector()
    for entry in entries { collector.visit(entry) }
    return collector.ids
  }

  /// False when `json` certainly lists no child: it has no `"children"`
  /// member name, or only `"children": []`.
  private static func mayListChildren(_ json: [UInt8]) -> Bool {
    let name = Array(#""children""#.utf8)
    var start = 0
    while let found = firstIndex(of: name, in: json, from: start) {
      var index = found + name.count
      func skipSpace() {
        while index < json.count, json[index] == UInt8(ascii: " ") { index += 1 }
      }
      skipSpace()
      guard index < json.count, json[index] == UInt8(ascii: ":") else {
        start = found + 1
        continue
      }
      index += 1
      skipSpace()
      guard index < json.count, json[index] == UInt8(ascii: "[") else { return true }
      index += 1
      skipSpace()
      if index < json.count, json[index] == UInt8(ascii: "]") {
        // The empty list: a later member of the same name would be a
        // duplicate key, which the first-member rule ignores anyway.
        return false
      }
      return true
    }
    return false
  }

  private static func firstIndex(of needle: [UInt8], in bytes: [UInt8], from start: Int) -> Int? {
    guard bytes.count >= needle.count, start <= bytes.count - needle.count else { return nil }
    var index = start
    while index <= bytes.count - needle.count {
      if bytes[index] == needle[0] && bytes[index..<(index + needle.count)].elementsEqual(needle) { return index }
      index += 1
    }
    return nil
  }

  /// Walks result tuples, keeping each task id once. Depth is bounded by
  /// ``JSONTree/maximumDepth``, which the parse already enforced.
  private struct Collector {
    var ids: [String] = []
    var seen: Set<String> = []

    mutating func visit(_ node: JSONTree) {
      guard case .array(let tuple) = node, tuple.count == 2 else { return }
      let (head, nested) = (tuple[0], tuple[1])
      var id: String?
      var parent: JSONTree?
      switch head {
      case .string(let bare):
        id = bare
      case .array(let pair) where !pair.isEmpty:
        if case .string(let first) = pair[0] { id = first }
        if pair.count > 1 { parent = pair[1] }
      default:
        return
      }
      switch nested {
      case .null:
        if let id, !id.isEmpty, seen.insert(id).inserted { ids.append(id) }
      case .array(let members):
        for member in members { visit(member) }
      default:
        return
      }
      if let parent { visit(parent) }
    }
  }
}
