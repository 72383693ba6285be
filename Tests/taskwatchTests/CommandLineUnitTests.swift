import Glibc
import TaskWatch
import Testing

@testable import taskwatch

/// The CLI's exit status (Swift Testing has a type of the same name).
private typealias ExitStatus = taskwatch.ExitStatus

@Suite("Durations")
struct WatchDurationTests {
  @Test(
    "accepted",
    arguments: [("90", 90.0), ("90s", 90), ("5m", 300), ("1h", 3600), ("1.5", 1.5), ("250ms", 0.25), ("0", 0)])
  func accepted(text: String, seconds: Double) {
    #expect(WatchDuration(argument: text)?.seconds == seconds)
  }

  @Test("refused", arguments: ["", "s", "-5", "5x", "1e3", "nan", "inf", "5 m", "m5", "1.2.3"])
  func refused(text: String) {
    #expect(WatchDuration(argument: text) == nil)
  }

  @Test("described the way a user writes it")
  func description() {
    #expect(WatchDuration(seconds: 300).description == "5m")
    #expect(WatchDuration(seconds: 7200).description == "2h")
    #expect(WatchDuration(seconds: 0.25).description == "250ms")
    #expect(WatchDuration(seconds: 90).description == "90s")
  }

  // Found by the durations fuzz target (Fuzzing/): `--retry-for
  // 90666666666666666666` crashed (Int overflow) when the "reconnecting (for
  // up to …)" diagnostic described it.
  @Test("a duration too long for Int is still described", arguments: ["90666666666666666666", "99999999999999999999h"])
  func hugeDurationDescribed(text: String) throws {
    let duration = try #require(WatchDuration(argument: text))
    #expect(duration.description.hasSuffix("s"))
    #expect(WatchDuration(seconds: 0x1p53 - 1).description == "9007199254740991s")
  }
}

/// Standard input that yields `text` in chunks of `chunkSize` bytes, then ends.
private func input(_ text: String, chunkSize: Int = 65536) -> () -> [UInt8]? {
  var rest = Array(text.utf8)[...]
  return {
    guard !rest.isEmpty else { return nil }
    defer { rest = rest.dropFirst(chunkSize) }
    return Array(rest.prefix(chunkSize))
  }
}

@Suite("Task id lists")
struct TaskIDListTests {
  @Test("standard input read in chunks of any size gives the ids of the whole: words and comments cut by a chunk")
  func chunked() throws {
    let text =
      "# deploy 42, see ['x']\n['celery-task-meta-d4f1e7a2-0b3c-4e5f-9a8b-7c6d5e4f3a2b', 'b']\n"
      + "a # trailing comment\ncelery-task-meta-a,c\t\"tâche\"\n#\nlast"
    let whole = Array(try TaskIDList(arguments: ["-"], readStandardInput: input(text)).ids)
    #expect(whole == ["d4f1e7a2-0b3c-4e5f-9a8b-7c6d5e4f3a2b", "b", "a", "c", "tâche", "last"])
    for size in 1...9 {
      let list = try TaskIDList(arguments: ["-"], readStandardInput: input(text, chunkSize: size))
      #expect(Array(list.ids) == whole, "chunks of \(size) bytes")
    }
  }

  @Test("stdin ids: whitespace or newline separated, blank lines ignored, duplicates once, order kept")
  func standardInput() throws {
    let list = try TaskIDList(arguments: ["x", "-"], readStandardInput: input("b a\n\n\tc\r\nb\nx\n"))
    #expect(Array(list.ids) == ["x", "b", "a", "c"])
  }

  @Test("refused lists")
  func refused() {
    #expect(throws: TaskIDList.Problem.self) { try TaskIDList(arguments: [], readStandardInput: { [] }) }
    #expect(throws: TaskIDList.Problem.self) {
      try TaskIDList(arguments: ["-"], readStandardInput: input("\n \n"))
    }
    for bad in ["a\u{7}b", "", " ", "del\u{7F}", "nbsp\u{A0}x", "\u{2028}"] {
      #expect(throws: TaskIDList.Problem.self) { try TaskIDList(arguments: [bad], readStandardInput: { [] }) }
    }
    #expect(throws: TaskIDList.Problem.self) {
      try TaskIDList(arguments: ["-"], readStandardInput: input("ok\nbad\u{1b}[31m\n"))
    }
  }

  @Test(
    "ids as users paste them: commas, Python lists, quotes, key prefixes, comments",
    arguments: [
      (["a,b", "c"], "", ["a", "b", "c"]),
      (["['a',", "'b']"], "", ["a", "b"]),
      (["[\"a\", \"b\"]"], "", ["a", "b"]),
      (["a b\tc"], "", ["a", "b", "c"]),
      (["celery-task-meta-a", "a"], "", ["a"]),
      (["-"], "['a', 'b',\n 'c']\n", ["a", "b", "c"]),
      (["-"], "# deploy 42\na # export\n  # indented comment\nb,c\n#\n", ["a", "b", "c"]),
      (["-"], "celery-task-meta-a\ncelery-task-meta-b\n", ["a", "b"]),
      (["x#y"], "", ["x#y"]),
    ])
  func pasted(arguments: [String], standardInput: String, expected: [String]) throws {
    let list = try TaskIDList(arguments: arguments, readStandardInput: input(standardInput))
    #expect(Array(list.ids) == expected)
  }

  @Test("the configured prefix is stripped, with --global-keyprefix; only a whole prefix, never the whole id")
  func configuredPrefix() throws {
    let naming = KeyNaming(keyPrefix: "results-", globalKeyPrefix: "myapp")
    let list = try TaskIDList(
      arguments: ["myapp_results-a", "results-b", "celery-task-meta-c", "myapp_results-"],
      keyPrefix: naming.taskKeyPrefix, readStandardInput: { [] })
    #expect(Array(list.ids) == ["a", "results-b", "celery-task-meta-c", "myapp_results-"])
    #expect(
      try TaskIDList.groupIDs(["celery-taskset-meta-g1,g2", "'g1'"], keyPrefix: KeyNaming().groupKeyPrefix)
        == ["g1", "g2"])
  }

  @Test("only comments, brackets or commas on standard input is no ids")
  func nothingLeft() {
    #expect(throws: TaskIDList.Problem.self) {
      try TaskIDList(arguments: ["-"], readStandardInput: input("# none yet\n[]\n,,\n"))
    }
  }

  @Test("printable ASCII and non-ASCII letters are accepted")
  func accepted() throws {
    let ids = ["d4f1e7a2-0b3c-4e5f-9a8b-7c6d5e4f3a2b", "!~{}", "tâche-été", "任务"]
    #expect(try TaskIDList(arguments: ids, readStandardInput: { [] }).ids.elementsEqual(ids))
  }

  @Test("control characters are shown escaped in the message")
  func message() {
    #expect(
      TaskIDList.Problem.invalid("a\u{1b}b", reason: "contains a control character").description
        == #"invalid task id 'a\u{1B}b': contains a control character"#)
  }
}

@Suite("Sentinel options")
struct SentinelOptionTests {
  private let url = "sentinel://:pw@h1:26379/1;sentinel://h2:26380/1"

  @Test("master name: --master-name > TASKWATCH_MASTER_NAME > ?master_name=; sentinel password from the environment")
  func masterName() throws {
    let environment = ["TASKWATCH_MASTER_NAME": "fromenv", "TASKWATCH_SENTINEL_PASSWORD": "spw"]
    let flag = try ConnectionOptions.parse(["-u", url + "?master_name=fromurl", "--master-name", "fromflag"])
    let backend = try flag.resolvedBackend(environment: { environment[$0] })
    #expect(backend.masterName == "fromflag")
    #expect(backend.sentinelPassword == "spw")
    #expect(backend.password == "pw" && backend.database == 1)
    #expect(backend.sentinels == [.tcp(host: "h1", port: 26379), .tcp(host: "h2", port: 26380)])
    let env = try ConnectionOptions.parse(["-u", url + "?master_name=fromurl"])
    #expect(try env.resolvedBackend(environment: { environment[$0] }).masterName == "fromenv")
    #expect(try env.resolvedBackend(environment: { _ in nil }).masterName == "fromurl")
  }

  @Test("a sentinel URL without a master name, or --master-name without one, is a usage problem")
  func missingMasterName() throws {
    let bare = try ConnectionOptions.parse(["-u", url])
    #expect(throws: UsageProblem.self) { try bare.resolvedBackend(environment: { _ in nil }) }
    let plain = try ConnectionOptions.parse(["-u", "redis://h/0", "--master-name", "m"])
    #expect(throws: UsageProblem.self) { try plain.resolvedBackend(environment: { _ in nil }) }
  }
}

@Suite("Exit status")
struct ExitStatusTests {
  @Test("outcomes map to the contract's codes")
  func outcomes() {
    #expect(ExitStatus.forOutcome(.allReady(anyFailed: false)) == .success)
    #expect(ExitStatus.forOutcome(.allReady(anyFailed: true)) == .taskFailed)
    #expect(ExitStatus.forOutcome(.failedFast) == .taskFailed)
    #expect(ExitStatus.forOutcome(.timedOut) == .timedOut)
    #expect(ExitStatus.forOutcome(.signalled(2)) == .interrupted)
    #expect(ExitStatus.forOutcome(.signalled(15)) == .terminated)
    #expect(ExitStatus.forOutcome(.outputClosed) == .success)
  }

  @Test("errors map to the contract's codes")
  func errors() {
    let cases: [(any Error, ExitStatus)] = [
      (RedisError.authenticationFailed(endpoint: "h:1", message: "WRONGPASS"), .authentication),
      (RedisError.connectFailed(endpoint: "h:1", reason: "connection refused"), .unavailable),
      (RedisError.connectionLost(endpoint: "h:1", reason: "eof"), .unavailable),
      (UndecodableResultError(taskID: "t", reason: .unsupportedSerializer("pickle")), .undecodable),
      (BackendURLError.unknownScheme("http"), .usage),
      (TaskIDList.Problem.empty(fromStandardInput: false), .usage),
      (UsageProblem(description: "x"), .usage),
      (UnknownMasterError(masterName: "m", sentinels: ["h:1"]), .usage),
      (RedisError.connectFailed(endpoint: "sentinels h:1", reason: "no sentinel answered"), .unavailable),
    ]
    for (error, status) in cases {
      #expect(ExitStatus.forOutcome(.failed(error)) == status)
    }
  }

  @Test("the codes are exactly the contract's")
  func codes() {
    #expect(ExitStatus.allCases.map(\.rawValue) == [0, 1, 64, 65, 69, 77, 124, 130, 143])
  }
}

@Suite("Output formatting")
struct OutputFormattingTests {
  @Test("RFC 3339 UTC with milliseconds")
  func timestamps() {
    var formatter = RFC3339Timestamp()
    #expect(formatter.string(for: WallClockTime(seconds: 0, nanoseconds: 5_000_000)) == "1970-01-01T00:00:00.005Z")
    #expect(
      formatter.string(for: WallClockTime(seconds: 1_795_633_928, nanoseconds: 938_999_999))
        == "2026-11-25T19:12:08.938Z")
    #expect(
      formatter.string(for: WallClockTime(seconds: 1_795_633_929, nanoseconds: 0)) == "2026-11-25T19:12:09.000Z")
  }

  @Test("a state line has the contract's fields in order")
  func stateLine() throws {
    let meta = try TaskMeta.decode(Array(#"{"status": "FAILURE", "result": {"exc_type": "E"}, "traceback": "t"}"#.utf8))
    let change = StateChange(
      taskID: "id\"1", state: .failure, previous: .started, source: .message,
      observedAt: WallClockTime(seconds: 0, nanoseconds: 0), meta: meta)
    var buffer = [UInt8]()
    var writer = NDJSONWriter(descriptor: -1)
    writer.write(change)
    writer.omitResult = true
    writer.write(change)
    buffer = writer.bufferedForTesting
    let lines = String(decoding: buffer, as: UTF8.self).split(separator: "\n")
    #expect(
      lines[0]
        == #"{"type":"state","task_id":"id\"1","state":"FAILURE","previous":"STARTED","ready":true,"source":"message","observed_at":"1970-01-01T00:00:00.000Z","meta":{"status": "FAILURE", "result": {"exc_type": "E"}, "traceback": "t"}}"#
    )
    #expect(lines[1].hasSuffix(#""meta":{"status": "FAILURE"}}"#))
  }

  @Test("lines alternating transitions and times each get their own text")
  func cachedParts() {
    var writer = NDJSONWriter(descriptor: -1)
    let times = [(0, 5_000_000), (0, 5_999_999), (0, 6_000_000), (1, 6_000_000), (0, 5_000_000)]
    let transitions: [(TaskState, TaskState?, StateChange.Source)] = [
      (.pending, nil, .snapshot), (.started, .pending, .message), (.started, .pending, .resync),
      (.success, .started, .message), (.pending, nil, .snapshot),
    ]
    for ((seconds, nanoseconds), (state, previous, source)) in zip(times, transitions) {
      writer.write(
        StateChange(
          taskID: "t", state: state, previous: previous, source: source,
          observedAt: WallClockTime(seconds: seconds, nanoseconds: nanoseconds), meta: nil))
    }
    let lines = String(decoding: writer.bufferedForTesting, as: UTF8.self).split(separator: "\n")
    let expected = [
      #""state":"PENDING","previous":null,"ready":false,"source":"snapshot","observed_at":"1970-01-01T00:00:00.005Z""#,
      #""state":"STARTED","previous":"PENDING","ready":false,"source":"message","observed_at":"1970-01-01T00:00:00.005Z""#,
      #""state":"STARTED","previous":"PENDING","ready":false,"source":"resync","observed_at":"1970-01-01T00:00:00.006Z""#,
      #""state":"SUCCESS","previous":"STARTED","ready":true,"source":"message","observed_at":"1970-01-01T00:00:01.006Z""#,
      #""state":"PENDING","previous":null,"ready":false,"source":"snapshot","observed_at":"1970-01-01T00:00:00.005Z""#,
    ]
    #expect(lines.count == expected.count)
    for (line, middle) in zip(lines, expected) {
      #expect(line == #"{"type":"state","task_id":"t","# + middle + #","meta":null}"#)
    }
  }

  @Test("strings that need escaping are escaped; others are copied as they are")
  func escaping() {
    var buffer = [UInt8]()
    for text in ["plain-id", "q\"b\\s\n\r\t\u{1}", "été 任务"] { JSONText.appendString(text, to: &buffer) }
    #expect(String(decoding: buffer, as: UTF8.self) == #""plain-id""q\"b\\s\n\r\t\u0001""été 任务""#)
  }

  @Test("a quote, backslash or control byte is found at any position of a long id, in the words and in the tail")
  func escapingFoundAnywhere() {
    let id = Array("0123456789abcdef-0123456789abcdef-012345".utf8)
    #expect(!id.withUnsafeBufferPointer { JSONText.needsEscaping($0) })
    for special in [UInt8(ascii: "\""), UInt8(ascii: "\\"), 0x00, 0x1F] {
      for position in id.indices {
        var bytes = id
        bytes[position] = special
        #expect(bytes.withUnsafeBufferPointer { JSONText.needsEscaping($0) }, "byte \(special) at \(position)")
      }
    }
    // Bytes at or above 0x80 (UTF-8) and 0x20 itself need none.
    #expect(!Array("id with spaces, été ~\u{7F}".utf8).withUnsafeBufferPointer { JSONText.needsEscaping($0) })
  }

  private func change(_ index: Int) -> StateChange {
    StateChange(
      taskID: "task-\(index)", state: .pending, previous: nil, source: .snapshot,
      observedAt: WallClockTime(seconds: 0, nanoseconds: 0), meta: nil)
  }

  @Test("a burst goes out in chunks as it is written, and every line arrives once")
  func chunks() throws {
    var template = Array("/tmp/taskwatch-ndjson-XXXXXX".utf8CString)
    let descriptor = mkstemp(&template)
    #expect(descriptor >= 0)
    unlink(template)
    defer { close(descriptor) }
    func written() -> Int { Int(lseek(descriptor, 0, SEEK_END)) }
    var writer = NDJSONWriter(descriptor: descriptor)
    var index = 0
    while written() == 0 && index < 10_000 {
      writer.write(change(index))
      index += 1
    }
    #expect(written() > 0, "nothing was written before flush()")
    #expect(writer.bufferedForTesting.count < NDJSONWriter.chunkSize)
    try writer.flush()
    var received = [UInt8](repeating: 0, count: written())
    #expect(received.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, 0) } == received.count)
    let lines = String(decoding: received, as: UTF8.self).split(separator: "\n")
    #expect(lines.count == index)
    #expect(lines.last?.contains(#""task_id":"task-\#(index - 1)""#) == true)
  }

  @Test("a reader that went away during a burst is reported by the next flush")
  func closedDuringBurst() {
    signal(SIGPIPE, SIG_IGN)
    var ends: [Int32] = [0, 0]
    #expect(pipe(&ends) == 0)
    close(ends[0])
    defer { close(ends[1]) }
    var writer = NDJSONWriter(descriptor: ends[1])
    for index in 0..<2_000 { writer.write(change(index)) }
    #expect(writer.bufferedForTesting.count < NDJSONWriter.chunkSize)
    #expect(throws: StandardStreams.OutputClosed.self) { try writer.flush() }
  }

  @Test("the summary line")
  func summary() {
    let statuses = [
      TaskStatus(taskID: "a", state: .success, isWatched: false),
      TaskStatus(taskID: "b", state: .pending, isWatched: true),
      TaskStatus(taskID: "c", state: .success, isWatched: false),
      TaskStatus(taskID: "d", state: .started, isWatched: false, unreadable: .unsupportedSerializer("yaml")),
    ]
    let line = RunSummary(statuses: statuses, elapsedSeconds: 1.23456, exitStatus: .timedOut).json
    #expect(
      String(decoding: line, as: UTF8.self)
        == #"{"type":"summary","total":4,"states":{"PENDING":1,"SUCCESS":2,"UNREADABLE":1},"unready":["b"],"#
        + #""unreadable":["d"],"not_succeeded":[{"task_id":"b","state":"PENDING"},{"task_id":"d","state":"UNREADABLE","#
        + #""reason":"payload looks like yaml, which taskwatch never executes: configure the worker with "#
        + #"result_serializer=\"json\" (or \"msgpack\")"}],"elapsed_s":1.235,"exit_code":124}"#
    )
  }

  @Test("the unreadable line: serializer or compression, reason, fix, and where it was read")
  func unreadableLine() {
    let time = WallClockTime(seconds: 1_764_000_000, nanoseconds: 5_000_000)
    var writer = NDJSONWriter()
    for (reason, previous) in [
      (DecodeError.unsupportedSerializer("pickle"), nil), (.unsupportedCompression("x/y"), TaskState.started),
    ] {
      writer.write(
        StateChange(
          taskID: "t", state: previous ?? .pending, previous: previous, source: .message, observedAt: time, meta: nil,
          unreadable: reason))
    }
    let lines = String(decoding: writer.bufferedForTesting, as: UTF8.self).split(separator: "\n")
    #expect(
      lines.first.map(String.init)
        == #"{"type":"unreadable","task_id":"t","serializer":"pickle","reason":"payload looks like pickle, "#
        + #"which taskwatch never executes","fix":"configure the worker with result_serializer=\"json\" "#
        + #"(or \"msgpack\")","previous":null,"ready":true,"source":"message","observed_at":"2025-11-24T16:00:00.005Z"}"#
    )
    #expect(lines.last?.hasPrefix(#"{"type":"unreadable","task_id":"t","compression":"x/y","reason":"#) == true)
    #expect(lines.last?.contains(#""previous":"STARTED","ready":true"#) == true)
  }

  @Test("exit precedence: a FAILURE outranks an unreadable result, which outranks SUCCESS")
  func unreadablePrecedence() {
    #expect(ExitStatus.forOutcome(.allReady(anyFailed: true, anyUnreadable: true)) == .taskFailed)
    #expect(ExitStatus.forOutcome(.allReady(anyFailed: false, anyUnreadable: true)) == .undecodable)
    #expect(ExitStatus.forOutcome(.allReady(anyFailed: false)) == .success)
  }
}
