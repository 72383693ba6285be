import TaskWatch

/// The rows of a `--children` watch as a tree for the live view: each task
/// under the task whose meta listed it, indented one step per level, and,
/// when the lines do not fit, the least interesting children of the largest
/// families folded into one line under their parent (`+40 done, +3 pending`).
///
/// Children are folded done first, then waiting, then running, failed last,
/// the latest seen first; folding a task folds its own children with it. The
/// deepest families fold first (the largest first among equals), so a level
/// is folded whole only when folding below it was not enough, and each
/// family keeps at least one child visible, so every parent still shows what
/// is going on beneath it.
enum TaskTree {
  /// One line of the tree.
  enum Line: Equatable {
    /// A task, `depth` levels below its root.
    case task(TaskRow, depth: Int)
    /// The folded children of one parent: `(name, count)` pairs such as
    /// `("done", 40)`, at the depth of those children.
    case folded([FoldedCount], depth: Int)
  }

  /// How many tasks of one kind a fold line stands for.
  struct FoldedCount: Equatable {
    /// `failed`, `running`, `pending` or `done`.
    let name: String
    /// How many.
    let count: Int
  }

  /// Whether `rows` form a tree at all (some task was found through a parent).
  static func isTree(_ rows: [TaskRow]) -> Bool {
    rows.contains { $0.parentID != nil }
  }

  /// The tree's lines, at most `capacity` of them; `nil` when even one
  /// visible child per family does not fit (the caller then folds by state
  /// alone, as for a flat list).
  static func lines(_ rows: [TaskRow], capacity: Int) -> [Line]? {
    let shape = Shape(rows)
    var hidden = [Bool](repeating: false, count: rows.count)
    var lineCount = rows.count
    if lineCount > capacity {
      // The deepest families first, then the largest; the roots are one family.
      let families = shape.families.filter { $0.value.count > 1 }.map {
        (key: $0.key, value: $0.value, depth: shape.depths[$0.value[0]])
      }.sorted {
        if $0.depth != $1.depth { return $0.depth > $1.depth }
        return $0.value.count != $1.value.count ? $0.value.count > $1.value.count : $0.key < $1.key
      }
      for (_, members, _) in families where lineCount > capacity {
        let candidates = members.sorted { a, b in
          let (ra, rb) = (Self.rank(rows[a].state), Self.rank(rows[b].state))
          return ra != rb ? ra < rb : a > b
        }
        var folded = 0
        for member in candidates.dropLast() where lineCount > capacity && !hidden[member] {
          let freed = shape.visibleSize(of: member, hidden: hidden)
          shape.hide(member, in: &hidden)
          lineCount -= freed
          folded += 1
          if folded == 1 { lineCount += 1 }
        }
      }
      guard lineCount <= capacity else { return nil }
    }
    var lines: [Line] = []
    lines.reserveCapacity(lineCount)
    shape.emit(family: Shape.rootFamily, depth: 0, rows: rows, hidden: hidden, into: &lines)
    return lines
  }

  /// Fold order: done, waiting, running, failed.
  private static func rank(_ state: TaskState) -> Int {
    switch state {
    case .success: return 0
    case .pending, .received, .retry: return 1
    case .failure, .revoked: return 3
    default: return 2
    }
  }

  /// What a folded task counts as on the fold line.
  static func foldName(_ state: TaskState) -> String {
    switch rank(state) {
    case 0: return "done"
    case 1: return "pending"
    case 3: return "failed"
    default: return "running"
    }
  }

  /// Who is whose child, by row position.
  private struct Shape {
    /// The family of the tasks whose parent is not on the board.
    static let rootFamily = -1
    /// Children by the parent's position (``rootFamily`` for the roots), in
    /// the order first seen.
    var families: [Int: [Int]] = [:]
    /// Levels below the root, by position.
    var depths: [Int] = []

    init(_ rows: [TaskRow]) {
      var positions: [String: Int] = [:]
      for (position, row) in rows.enumerated() { positions[row.taskID] = position }
      var parents = [Int](repeating: Self.rootFamily, count: rows.count)
      for (position, row) in rows.enumerated() {
        let parent = row.parentID.flatMap { positions[$0] } ?? Self.rootFamily
        parents[position] = parent
        families[parent, default: []].append(position)
      }
      // A task is found after the task that listed it, so its parent's depth
      // is known; the bound guards against a cycle in rows given by hand.
      depths = [Int](repeating: 0, count: rows.count)
      for position in rows.indices {
        var (depth, next) = (0, parents[position])
        while next != Self.rootFamily && depth <= rows.count {
          if next < position {
            depth += depths[next] + 1
            break
          }
          depth += 1
          next = parents[next]
        }
        depths[position] = depth
      }
    }

    /// Lines the task and its visible descendants take.
    func visibleSize(of position: Int, hidden: [Bool]) -> Int {
      guard !hidden[position] else { return 0 }
      var size = 1
      var stack = families[position] ?? []
      var foldLine = false
      while let next = stack.popLast() {
        if hidden[next] {
          foldLine = true
          continue
        }
        size += 1
        stack += families[next] ?? []
      }
      return size + (foldLine ? 1 : 0)
    }

    /// Hides a task with everything below it.
    func hide(_ position: Int, in hidden: inout [Bool]) {
      var stack = [position]
      while let next = stack.popLast() {
        hidden[next] = true
        stack += families[next] ?? []
      }
    }

    /// Appends a family's lines: each visible member and its own family,
    /// then one fold line counting the hidden members and what is below them.
    func emit(family: Int, depth: Int, rows: [TaskRow], hidden: [Bool], into lines: inout [Line]) {
      var counts: [FoldedCount] = []
      for member in families[family] ?? [] {
        if hidden[member] {
          var stack = [member]
          while let next = stack.popLast() {
            let name = TaskTree.foldName(rows[next].state)
            if let index = counts.firstIndex(where: { $0.name == name }) {
              counts[index] = FoldedCount(name: name, count: counts[index].count + 1)
            } else {
              counts.append(FoldedCount(name: name, count: 1))
            }
            stack += families[next] ?? []
          }
          continue
        }
        lines.append(.task(rows[member], depth: depth))
        emit(family: member, depth: depth + 1, rows: rows, hidden: hidden, into: &lines)
      }
      if !counts.isEmpty {
        let order = ["failed", "running", "pending", "done"]
        counts.sort { order.firstIndex(of: $0.name)! < order.firstIndex(of: $1.name)! }
        lines.append(.folded(counts, depth: depth))
      }
    }
  }
}
