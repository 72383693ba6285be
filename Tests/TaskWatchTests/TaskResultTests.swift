import Foundation
import Testing

@testable import CeleryPayload
@testable import RedisWire
@testable import TaskWatch

@Suite("TaskResult and TaskMeta's typed fields, on payloads captured from Celery")
struct TaskResultTests {
  private func fixture(_ name: String) throws -> TaskResult {
    let bytes = try Data(contentsOf: CeleryFixture.directory.appendingPathComponent(name))
    let meta = try TaskMeta.decode(Array(bytes))
    return TaskResult(taskID: meta.taskID ?? "", meta: meta)
  }

  /// The fixture's `date_done`, read by Foundation (an independent ISO 8601
  /// parser): fixtures are re-captured from real workers, so no date is fixed.
  private func dateDone(ofFixture name: String) throws -> WallClockTime {
    let bytes = try Data(contentsOf: CeleryFixture.directory.appendingPathComponent(name))
    let object = try #require(try JSONSerialization.jsonObject(with: bytes) as? [String: Any])
    let text = try #require(object["date_done"] as? String)
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    let date = try #require(formatter.date(from: text))
    // Foundation keeps milliseconds; the microseconds come from the text.
    let seconds = Int(date.timeIntervalSince1970.rounded(.down))
    let fractionText = try #require(text.split(separator: ".").last)
    let digits = fractionText.prefix { $0.isNumber }
    let microseconds = String(digits.prefix(6)) + String(repeating: "0", count: max(0, 6 - digits.count))
    return WallClockTime(seconds: seconds, nanoseconds: try #require(Int(microseconds)) * 1000)
  }

  @Test("SUCCESS with result_extended: result, name, date_done; raw bytes kept")
  func extendedSuccess() throws {
    let result = try fixture("extended-success.stored.json")
    #expect(result.state == .success)
    #expect(try result.result?.decode(Int.self) == 5)
    #expect(result.name == "demoapp.add")
    #expect(result.dateDone == (try dateDone(ofFixture: "extended-success.stored.json")))
    #expect(result.exception == nil && result.traceback == nil && result.children.isEmpty)
    #expect(result.meta.json.starts(with: Array(#"{"status": "SUCCESS""#.utf8)))
    #expect(result.meta.result == result.result && result.meta.name == result.name)
  }

  @Test("FAILURE: the exception's type, message and module, and the traceback")
  func failure() throws {
    let result = try fixture("extended-failure.stored.json")
    #expect(result.state == .failure)
    #expect(result.exception?.type == "ValueError")
    #expect(result.exception?.message == "boom")
    #expect(result.exception?.module == "builtins")
    #expect(result.exception?.description == "ValueError: boom")
    #expect(result.traceback?.hasSuffix("ValueError: boom\n") == true)
    #expect(result.meta.exception == result.exception && result.meta.traceback == result.traceback)
  }

  @Test("REVOKED: Celery's TaskRevokedError as the exception")
  func revoked() throws {
    let exception = try fixture("revoked-terminate.stored.json").exception
    #expect(exception?.description == "celery.exceptions.TaskRevokedError: terminated")
  }

  @Test("a task that started another lists the child's result tuple")
  func children() throws {
    let meta = try fixture("retry.stored.json").meta
    #expect(meta.children.count == 1)
    #expect(meta.children.first?[0]?[0]?.stringValue?.count == 36)
  }

  @Test("custom state meta (PROGRESS) is the result; Python's None is nil")
  func progressAndNone() throws {
    let progress = try fixture("progress.stored.json")
    #expect(progress.result?["current"]?.intValue == 1 && progress.dateDone == nil)
    let none = try TaskMeta.decode(Array(#"{"status": "SUCCESS", "result": null}"#.utf8))
    #expect(none.result == nil)
  }

  @Test(
    "date_done as Python's isoformat() writes it",
    arguments: [
      ("2026-11-25T20:59:10+00:00", 1_795_640_350, 0),
      ("2026-11-25 22:59:10.5+02:00", 1_795_640_350, 500_000_000),
      ("2026-11-25T20:59:10.000001Z", 1_795_640_350, 1000),
      ("2026-11-25T20:59:10", 1_795_640_350, 0),
      ("2000-02-29T00:00:00", 951_782_400, 0),
    ])
  func isoDates(text: String, seconds: Int, nanoseconds: Int) {
    #expect(WallClockTime(iso8601: text) == WallClockTime(seconds: seconds, nanoseconds: nanoseconds))
  }

  @Test("malformed dates are nil", arguments: ["2026-11-25", "2026-13-01T00:00:00", "2026-11-25T20:59:10+0000", "x"])
  func badDates(text: String) {
    #expect(WallClockTime(iso8601: text) == nil)
  }
}
