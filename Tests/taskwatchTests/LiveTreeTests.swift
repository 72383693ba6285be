import TaskWatch
import Testing

@testable import taskwatch

/// The live view of a `--children` watch at a fixed size: children indented
/// under their parent, large families folded under it.
@Suite("Live table as a tree")
struct LiveTreeTests {
  private func row(_ id: String, _ state: TaskState, parent: String? = nil, seen: Double = 100) -> TaskRow {
    TaskRow(
      taskID: id, state: state, firstSeen: seen, readyAt: state.isReady ? seen : nil, parentID: parent)
  }

  @Test("each task under the task that listed it, one indent per level, in the order seen within a family")
  func indented() {
    // Seen in the order the watch found them: the root, its two children,
    // then the grandchildren of both.
    let rows = [
      row("root", .success), row("a", .success, parent: "root"), row("b", .started, parent: "root"),
      row("a1", .success, parent: "a"), row("b1", .pending, parent: "b"), row("a2", .failure, parent: "a"),
    ]
    let lines = LiveTable(width: 40, height: 12, color: false).render(rows, now: 100, waited: 3)
    #expect(
      lines == [
        "TASK       STATE      TIME",
        "root       SUCCESS      0s",
        "  a        SUCCESS      0s",
        "    a1     SUCCESS      0s",
        "    a2     FAILURE      0s",
        "  b        STARTED      0s",
        "    b1     PENDING      0s",
        "6 tasks: 1 FAILURE, …  waited 3s",
      ])
  }

  @Test("a large family is folded under its parent: done first, the failed and running kept, one line counts the rest")
  func foldedFamily() {
    var rows = [row("root", .started)]
    for index in 0..<40 { rows.append(row("ok\(index)", .success, parent: "root", seen: Double(index))) }
    rows.append(row("bad", .failure, parent: "root"))
    rows.append(row("busy", .started, parent: "root"))
    for index in 0..<5 { rows.append(row("wait\(index)", .pending, parent: "root")) }
    let lines = LiveTable(width: 40, height: 10, color: false).render(rows, now: 100, waited: 3)
    #expect(lines.count == 9)
    #expect(lines[1].hasPrefix("root "))
    #expect(lines.contains { $0.hasPrefix("  bad ") } && lines.contains { $0.hasPrefix("  busy ") })
    #expect(lines.first { $0.hasPrefix("  +") } == "  +2 pending, +40 done")
    #expect(lines.last?.hasPrefix("48 tasks:") == true)
  }

  @Test("folding a child folds its descendants with it, counted on the parent's fold line")
  func foldedSubtree() {
    var rows = [row("root", .started), row("a", .success, parent: "root"), row("b", .started, parent: "root")]
    for index in 0..<6 { rows.append(row("a\(index)", .success, parent: "a")) }
    rows.append(row("b0", .started, parent: "b"))
    // 10 rows for 5 lines: a's family folds first (the largest), then a itself.
    let lines = TaskTree.lines(rows, capacity: 5)
    #expect(
      lines == [
        .task(rows[0], depth: 0), .task(rows[2], depth: 1), .task(rows[9], depth: 2),
        .folded([TaskTree.FoldedCount(name: "done", count: 7)], depth: 1),
      ])
  }

  @Test("the deepest families fold first: a level is folded whole only when that was not enough")
  func deepestFirst() throws {
    var rows = [row("root", .success)]
    for child in 0..<4 {
      rows.append(row("c\(child)", .success, parent: "root"))
    }
    for child in 0..<4 {
      for grandchild in 0..<4 { rows.append(row("c\(child).\(grandchild)", .success, parent: "c\(child)")) }
    }
    let lines = try #require(TaskTree.lines(rows, capacity: 11))
    #expect(lines.count == 11)
    let children = lines.compactMap { line -> String? in
      if case .task(let row, 1) = line { return row.taskID }
      return nil
    }
    #expect(children == ["c0", "c1", "c2"])
    let grandchildFolds = lines.filter {
      if case .folded([TaskTree.FoldedCount(name: "done", count: 3)], 2) = $0 { return true }
      return false
    }
    #expect(grandchildFolds.count == 3)
    #expect(lines.last == .folded([TaskTree.FoldedCount(name: "done", count: 5)], depth: 1))
  }

  @Test("a flat watch (no parent ids) is not a tree and renders as before")
  func flat() {
    #expect(!TaskTree.isTree([row("a", .success), row("b", .started)]))
  }

  @Test("when even one child per family cannot fit, the state grouping of a flat list takes over")
  func tooDeep() {
    var rows = [row("r", .started)]
    for level in 1..<20 { rows.append(row("t\(level)", .started, parent: level == 1 ? "r" : "t\(level - 1)")) }
    #expect(TaskTree.lines(rows, capacity: 5) == nil)
    let lines = LiveTable(width: 40, height: 8, color: false).render(rows, now: 100, waited: 3)
    #expect(lines.count == 7 && lines[5] == "+16 running", "\(lines)")
  }
}
