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

  @Test("a header, one row per task (id, state, time), then the footer with counts and time waited")
  func rows() {
    let table = LiveTable(width: 60, height: 10, color: false)
    let lines = table.render(
      [row("a1", .started, seen: 90), row("b2", .success, seen: 95, ready: 97)], now: 102, waited: 12)
    #expect(
      lines == [
        "TASK       STATE      TIME",
        "a1         STARTED     12s",
        "b2         SUCCESS      2s",
        "2 tasks: 1 STARTED, 1 SUCCESS  waited 12s",
      ])
  }

  @Test("the task's name when the meta has one; the result or exc_type: exc_message on ready rows")
  func nameAndOutcome() {
    var done = row("6f1c2e4a-0d7e-4b8f-9a51-2f3c8e7d9b10", .success, seen: 100, ready: 101)
    done.name = "tasks.add"
    done.result = "42"
    let failed = row("c0ffee00-1234-4f00-8000-000000000042", .failure, ready: 103, failure: "ValueError: boom")
    let lines = LiveTable(width: 80, height: 10, color: false).render([done, failed], now: 110, waited: 10)
    #expect(lines[0] == "TASK                                  STATE      TIME  DETAIL")
    #expect(lines[1] == "tasks.add 6f1c2e4a                    SUCCESS      1s  42")
    #expect(lines[2] == "c0ffee00-1234-4f00-8000-000000000042  FAILURE      3s  ValueError: boom")
    // Narrow: the detail is cut first, then dropped.
    let narrow = LiveTable(width: 40, height: 10, color: false).render([failed], now: 110, waited: 10)
    #expect(narrow[1] == "c0ffee00-123…  FAILURE      3s  ValueEr…")
    #expect(narrow.allSatisfy { $0.count <= 40 })
  }

  @Test("a task already done when first seen shows its own age from date_done")
  func doneBeforeStart() {
    var old = row("t", .success, seen: 1000, ready: 1000)
    old.doneBeforeStart = 1000 - 185
    let lines = LiveTable(width: 60, height: 10, color: false).render([old], now: 1010, waited: 10)
    #expect(lines[1] == "t          SUCCESS    3m15s ago")
  }

  @Test("a PROGRESS row has a bar and a percentage")
  func bar() {
    let table = LiveTable(width: 80, height: 10, color: false)
    let lines = table.render([row("t", .init("PROGRESS"), progress: 0.3, seen: 100)], now: 165, waited: 65)
    #expect(lines[1] == "t          PROGRESS   1m05s  [######--------------]  30%")
    #expect(
      LiveTable(width: 60, height: 10, color: false).render(
        [row("t", .init("PROGRESS"), progress: 1)], now: 100, waited: 0)[1].hasSuffix("[##########] 100%"))
  }

  @Test("colour on: states in their colours; colour off: no escape at all")
  func colours() {
    let rows = [
      row("s", .success), row("f", .failure), row("r", .revoked), row("y", .retry), row("p", .init("PROGRESS")),
    ]
    let coloured = LiveTable(width: 60, height: 10, color: true).render(rows, now: 100, waited: 0)
    #expect(coloured[1].contains("\u{1B}[32mSUCCESS"))
    #expect(coloured[2].contains("\u{1B}[31mFAILURE"))
    #expect(coloured[3].contains("\u{1B}[31mREVOKED"))
    #expect(coloured[4].contains("\u{1B}[33mRETRY"))
    #expect(coloured[5].contains("\u{1B}[34mPROGRESS"))
    let plain = LiveTable(width: 60, height: 10, color: false).render(rows, now: 100, waited: 0)
    #expect(plain.allSatisfy { !$0.contains("\u{1B}") })
  }

  @Test("too many rows: failed, then running (reporting first), then waiting, then done; the rest counted")
  func overflow() {
    let done = (0..<20).map { row("done\($0)", .success, ready: 100) }
    let waiting = (0..<5).map { row("wait\($0)", $0 == 0 ? .retry : .pending) }
    let rows =
      done[0..<10] + waiting + [row("failed", .failure, ready: 100), row("running", .started)]
      + [row("progress", .init("PROGRESS"))] + done[10...]
    let lines = LiveTable(width: 60, height: 8, color: false).render(Array(rows), now: 100, waited: 3)
    #expect(lines.count == 7, "a frame is at most height - 1 lines: \(lines)")
    #expect(lines[0].hasPrefix("TASK"))
    #expect(lines[1].hasPrefix("failed"))
    #expect(lines[2].hasPrefix("progress"))
    #expect(lines[3].hasPrefix("running"))
    #expect(lines[4].hasPrefix("wait0"))
    #expect(lines[5] == "+4 pending, +20 done")
    #expect(lines[6] == "28 tasks: 1 FAILURE, 4 PENDING, 1 PROGRESS, …  waited 3s")
  }

  @Test("more running tasks than lines: '+N running'; a tiny terminal still gets the footer")
  func overflowRunning() {
    let rows = (0..<10).map { row("t\($0)", .started) }
    let lines = LiveTable(width: 60, height: 5, color: false).render(rows, now: 100, waited: 0)
    #expect(
      lines == [
        "TASK       STATE      TIME", "t0         STARTED      0s", "+9 running", "10 tasks: 10 STARTED  waited 0s",
      ])
    #expect(
      LiveTable(width: 60, height: 2, color: false).render(rows, now: 100, waited: 0) == [
        "10 tasks: 10 STARTED  waited 0s"
      ])
  }

  @Test("the footer keeps the total and the time waited at any width, dropping counts first")
  func footerFits() {
    let rows = ["PENDING", "STARTED", "PROGRESS", "RETRY", "SUCCESS", "FAILURE"].enumerated().flatMap { index, name in
      (0...index).map { row("\(name)\($0)", TaskState(name)) }
    }
    let wide = LiveTable(width: 120, height: 50, color: false).footer(rows, waited: 125)
    #expect(wide == "21 tasks: 6 FAILURE, 1 PENDING, 3 PROGRESS, 4 RETRY, 2 STARTED, 5 SUCCESS  waited 2m05s")
    let medium = LiveTable(width: 60, height: 50, color: false).footer(rows, waited: 125)
    #expect(medium == "21 tasks: 6 FAILURE, 1 PENDING, 3 PROGRESS, …  waited 2m05s")
    let narrow = LiveTable(width: 30, height: 50, color: false).footer(rows, waited: 125)
    #expect(narrow == "21 tasks: …  waited 2m05s")
  }

  @Test("the footer counts the ids given while connecting, and says when it is reconnecting")
  func footerConnection() {
    let table = LiveTable(width: 80, height: 10, color: false)
    #expect(
      table.footer([], waited: 2, status: .init(expectedTasks: 300, connection: .connecting))
        == "300 tasks: connecting  waited 2s")
    #expect(
      table.footer([row("a", .pending)], waited: 9, status: .init(connection: .reconnecting))
        == "reconnecting  1 task: 1 PENDING  waited 9s")
  }

  @Test("control characters in a result cannot move the cursor")
  func controlCharacters() {
    var done = row("t", .success, ready: 100)
    done.result = "a\u{1B}[2Jb\nc\u{9B}d"
    let line = LiveTable(width: 60, height: 10, color: false).render([done], now: 100, waited: 0)[1]
    #expect(!line.unicodeScalars.contains { $0.properties.generalCategory == .control }, "\(line.debugDescription)")
    #expect(line.hasSuffix("a [2Jb c d"))
  }

  @Test("at the end failures are listed with exc_type: exc_message")
  func failures() {
    let lines = LiveTable(width: 60, height: 10, color: false).finalLines(
      [row("ok", .success, ready: 100), row("bad", .failure, ready: 100, failure: "ValueError: boom")], now: 100,
      waited: 1)
    #expect(lines.last == "FAILURE bad  ValueError: boom")
  }

  @Test("date_done as Celery writes it")
  func dates() {
    #expect(CeleryDate.epochSeconds("1970-01-01T00:00:00") == 0)
    #expect(CeleryDate.epochSeconds("2026-11-25T20:54:20.5+00:00") == 1_795_640_060.5)
    #expect(CeleryDate.epochSeconds("2026-11-25T21:54:20.5+01:00") == 1_795_640_060.5)
    #expect(CeleryDate.epochSeconds("2026-11-25T20:54:20Z") == 1_795_640_060)
    #expect(CeleryDate.epochSeconds("yesterday") == nil)
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
    let named = try TaskMeta.decode(
      Array(#"{"status":"SUCCESS","result":[1,"two"],"name":"tasks.add","date_done":"1970-01-01T00:01:00+00:00"}"#.utf8)
    )
    board.apply(
      StateChange(taskID: "n", state: .success, previous: nil, source: .snapshot, observedAt: at, meta: named))
    #expect(board.row(for: "n")?.name == "tasks.add")
    #expect(board.row(for: "n")?.result == "[1, two]")
    #expect(board.row(for: "n")?.doneBeforeStart == 60)
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
