import TaskWatch
import Testing

@testable import taskwatch

/// The live view's renderer at a fixed size: rows, bars, colours, overflow
/// and truncation, with no terminal involved.
@Suite("Live table")
struct LiveTableTests {
  private func row(
    _ id: String, _ state: TaskState, progress: Double? = nil, seen: Double = 100, ready: Double? = nil,
    failure: String? = nil
  ) -> TaskRow {
    TaskRow(taskID: id, state: state, progress: progress, firstSeen: seen, readyAt: ready, failure: failure)
  }

  @Test("one row per task: id, state, elapsed, then the footer with counts and time waited")
  func rows() {
    let table = LiveTable(width: 60, height: 10, color: false)
    let lines = table.render(
      [row("a1", .started, seen: 90), row("b2", .success, seen: 95, ready: 97)], now: 102, waited: 12)
    #expect(
      lines == [
        "a1  STARTED       12s",
        "b2  SUCCESS        2s",
        "2 tasks: 1 STARTED, 1 SUCCESS  waited 12s",
      ])
  }

  @Test("a PROGRESS row has a bar and a percentage")
  func bar() {
    let table = LiveTable(width: 80, height: 10, color: false)
    let lines = table.render([row("t", .init("PROGRESS"), progress: 0.3, seen: 100)], now: 165, waited: 65)
    #expect(lines[0] == "t  PROGRESS    1m05s  [######--------------]  30%")
    #expect(
      LiveTable(width: 60, height: 10, color: false).render(
        [row("t", .init("PROGRESS"), progress: 1)], now: 100, waited: 0)[0].hasSuffix("[##########] 100%"))
  }

  @Test("colour on: states in their colours; colour off: no escape at all")
  func colours() {
    let rows = [
      row("s", .success), row("f", .failure), row("r", .revoked), row("y", .retry), row("p", .init("PROGRESS")),
    ]
    let coloured = LiveTable(width: 60, height: 10, color: true).render(rows, now: 100, waited: 0)
    #expect(coloured[0].contains("\u{1B}[32mSUCCESS"))
    #expect(coloured[1].contains("\u{1B}[31mFAILURE"))
    #expect(coloured[2].contains("\u{1B}[31mREVOKED"))
    #expect(coloured[3].contains("\u{1B}[33mRETRY"))
    #expect(coloured[4].contains("\u{1B}[34mPROGRESS"))
    let plain = LiveTable(width: 60, height: 10, color: false).render(rows, now: 100, waited: 0)
    #expect(plain.allSatisfy { !$0.contains("\u{1B}") })
  }

  @Test("too many rows: unready and failed first, '+N done', and the table fits the height")
  func overflow() {
    let done = (0..<20).map { row("done\($0)", .success, ready: 100) }
    let rows = done[0..<10] + [row("failed", .failure, ready: 100), row("running", .started)] + done[10...]
    let lines = LiveTable(width: 60, height: 6, color: false).render(Array(rows), now: 100, waited: 3)
    #expect(lines.count == 6)
    #expect(lines[0].hasPrefix("running"))
    #expect(lines[1].hasPrefix("failed"))
    #expect(lines[2].hasPrefix("done0 "))
    #expect(lines[4] == "+18 done")
    #expect(lines[5] == "22 tasks: 1 FAILURE, 1 STARTED, 20 SUCCESS  waited 3s")
  }

  @Test("more unready tasks than lines: '+N more'")
  func overflowUnready() {
    let rows = (0..<10).map { row("t\($0)", .pending) }
    let lines = LiveTable(width: 60, height: 4, color: false).render(rows, now: 100, waited: 0)
    #expect(lines == ["t0  PENDING        0s", "t1  PENDING        0s", "+8 more", "10 tasks: 10 PENDING  waited 0s"])
  }

  @Test("long ids are cut with '…' to fit the width; no line is wider than the terminal")
  func truncation() {
    let id = "6f1c2e4a-0d7e-4b8f-9a51-2f3c8e7d9b10"
    let table = LiveTable(width: 40, height: 10, color: true)
    let lines = table.render([row(id, .init("PROGRESS"), progress: 0.5)], now: 100, waited: 0)
    let visible = lines.map { $0.replacing(/\x1B\[[0-9;]*m/, with: "") }
    #expect(visible.allSatisfy { $0.count <= 40 })
    #expect(visible[0].hasPrefix("6f1c2e4a…  PROGRESS"))
    // At 49 columns the id takes what the other columns leave, and the row ends whole.
    let narrow = LiveTable(width: 49, height: 10, color: false).render(
      [row(id, .init("PROGRESS"), progress: 0.7)], now: 100, waited: 0)
    #expect(narrow[0] == "6f1c2e4a-0…  PROGRESS       0s  [#######---]  70%")
    #expect(
      LiveTable(width: 80, height: 10, color: false).render([row(id, .started)], now: 100, waited: 0)[0]
        .hasPrefix(id + "  STARTED"))
  }

  @Test("at the end failures are listed with exc_type: exc_message")
  func failures() {
    let lines = LiveTable(width: 60, height: 10, color: false).finalLines(
      [row("ok", .success, ready: 100), row("bad", .failure, ready: 100, failure: "ValueError: boom")], now: 100,
      waited: 1)
    #expect(lines.last == "FAILURE bad  ValueError: boom")
  }

  @Test("progress and failure text are read from Celery's meta")
  func metaFields() throws {
    let progress = try TaskMeta.decode(Array(#"{"status":"PROGRESS","result":{"current":3,"total":12}}"#.utf8))
    let failure = try TaskMeta.decode(
      Array(#"{"status":"FAILURE","result":{"exc_type":"KeyError","exc_message":["x", 2]}}"#.utf8))
    let flag = try TaskMeta.decode(Array(#"{"status":"PROGRESS","result":{"current":true,"total":2}}"#.utf8))
    var board = TaskBoard()
    let at = WallClockTime(seconds: 1, nanoseconds: 0)
    for (id, meta) in [("p", progress), ("f", failure), ("b", flag)] {
      board.apply(
        StateChange(taskID: id, state: meta.state, previous: nil, source: .snapshot, observedAt: at, meta: meta))
    }
    #expect(board.row(for: "p")?.progress == 0.25)
    #expect(board.row(for: "f")?.failure == "KeyError: x, 2")
    #expect(board.row(for: "b")?.progress == nil)
  }

  @Test("--format auto is text on a terminal only; --color auto honours NO_COLOR and TERM=dumb")
  func choices() {
    #expect(OutputFormat.auto.resolved(outputIsTerminal: true) == .text)
    #expect(OutputFormat.auto.resolved(outputIsTerminal: false) == .json)
    #expect(OutputFormat.text.resolved(outputIsTerminal: false) == .text)
    let none: (String) -> String? = { _ in nil }
    #expect(ColorChoice.auto.enabled(outputIsTerminal: true, environment: none))
    #expect(!ColorChoice.auto.enabled(outputIsTerminal: false, environment: none))
    #expect(!ColorChoice.auto.enabled(outputIsTerminal: true, environment: { $0 == "NO_COLOR" ? "1" : nil }))
    #expect(!ColorChoice.auto.enabled(outputIsTerminal: true, environment: { $0 == "TERM" ? "dumb" : nil }))
    #expect(ColorChoice.always.enabled(outputIsTerminal: false, environment: { _ in "1" }))
    #expect(!ColorChoice.never.enabled(outputIsTerminal: true, environment: none))
  }
}
